"""The demo's rounds (custody.demo_rounds, through ``seed_demo``): a tag on
every cell, one person on close watch, and a falsified night that the
compliance report flags while the walked one passes."""

import time

import pytest
from django.utils import timezone

from alerts.audit.period import Period
from alerts.audit.rounds_report import rounds_report
from custody.demo_rounds import last_night
from custody.models import Facility, Inmate, Location, LocationTag, RoundCheck, RoundObservation
from tests.test_seed_demo import seed

pytestmark = pytest.mark.django_db


def test_the_demo_plants_tags_a_close_watch_and_a_night_the_report_flags():
    started = time.monotonic()
    output = seed(inmates=120)
    assert time.monotonic() - started < 30
    fj2 = Facility.objects.get(code="FJ2")
    cells = Location.objects.filter(facility=fj2, kind="cell")
    assert LocationTag.objects.filter(location__in=cells, kind="qr").count() == cells.count()
    assert "360 cell tags" in output
    [close] = Inmate.objects.filter(facility=fj2, watch_level="close")
    assert close.cell.parent.code == "A" and close.round_deadline_at is not None

    since, until = last_night(fj2, timezone.now())
    report = rounds_report(
        facility=fj2,
        period=Period(since=since, until=until, tz=fj2.tzinfo),
        standard="ca_title15",
    )
    units = {line.key.split(" ")[0]: line.figures for line in report.units}
    falsified, walked = units["A"], units["B"]
    # Every cell of A at the same minute of every hour, 3 s apart: all flagged.
    assert falsified.too_regular == 60
    assert falsified.implausible == 8 * 59  # every sweep after its first cell
    assert walked.too_regular == 0 and walked.implausible == 0
    # Neither night was late under the hourly rule: only the pattern tells them apart.
    assert falsified.missed == 0 and walked.on_time_share > 0.9
    assert RoundObservation.objects.filter(round_check__location__parent__code="A").exists()

    # A second run adds nothing.
    before = (LocationTag.objects.count(), RoundCheck.objects.count())
    seed(inmates=120)
    assert (LocationTag.objects.count(), RoundCheck.objects.count()) == before
