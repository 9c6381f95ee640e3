"""`manage.py seed_demo_history`: the demo's past, through the real services,
with a trace for every integrity signal, planted once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from alerts.audit.period import Period
from alerts.audit.signals import SIGNALS, integrity_report
from custody import services
from custody.models import Facility, RollCall, RollCallStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("seed_demo", inmates=120, demo_on_production=True, stdout=StringIO())
    return Facility.objects.get(code="FJ2")


def seed_history() -> str:
    out = StringIO()
    call_command("seed_demo_history", demo_on_production=True, stdout=out)
    return out.getvalue()


def test_two_days_of_verified_counts_and_a_whole_chain(demo):
    assert "2 days" in seed_history()
    counts = RollCall.objects.filter(facility=demo)
    formal = counts.filter(kind="formal")
    assert formal.count() == 2 * 4 * demo.locations.filter(kind="unit").count() + 1
    # All verified by a second officer but one, left for the auditor to find.
    assert formal.filter(status=RollCallStatus.VERIFIED).count() == formal.count() - 1
    assert counts.filter(kind="informal", unaccounted_count=1).count() == 1
    assert services.ledger_verify(facility=demo).ok


def test_every_integrity_signal_has_something_to_show(demo):
    seed_history()
    now = timezone.now()
    report = integrity_report(
        facility=demo, period=Period(now - timedelta(days=3), now, demo.tzinfo)
    )
    quiet = [signal.key for signal in report.signals if not signal.fired]
    assert quiet == []
    assert len(report.signals) == len(SIGNALS)


def test_it_runs_once(demo):
    seed_history()
    before = RollCall.objects.count()
    assert "left as it is" in seed_history()
    assert RollCall.objects.count() == before


def test_the_past_leaves_every_deadline_where_the_readers_left_it(demo):
    due_before = dict(demo.inmates.values_list("pk", "next_due_at"))
    seed_history()
    now = timezone.now()
    assert dict(demo.inmates.values_list("pk", "next_due_at")) == due_before
    assert min(due_before.values()) > now  # nobody overdue: no alert storm at start


def test_nobody_is_seen_or_counted_before_they_arrived(demo):
    from django.db.models import F

    from custody.models import CheckIn, RollCallEntry

    seed_history()
    assert not CheckIn.objects.filter(observed_at__lt=F("inmate__admitted_at")).exists()
    assert not RollCallEntry.objects.filter(observed_at__lt=F("inmate__admitted_at")).exists()
