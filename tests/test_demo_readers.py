"""The `make run` demo: simulated readers keep everyone seen but twenty, who
vanish one or two at a time; the real reconciler catches exactly them."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from alerts.models import AlertKind, AlertStatus, EscalationLevel, NotificationChannel
from custody.demo import VANISHING, demo_readers_tick, jam_of, vanishing_schedule
from custody.models import CheckIn, DeviceKind, Facility, QuarantinedCheckIn
from tests.alerting import reconcile

pytestmark = pytest.mark.django_db


def test_the_demo_readers_keep_all_but_the_vanishing_twenty_seen(settings):
    settings.RECONCILE_EVERY_SECONDS = 15
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    with time_machine.travel(start, tick=False):
        call_command("seed_demo", inmates=120, demo_on_production=True, stdout=StringIO())
        call_command("seed_demo_alerts", demo_on_production=True, stdout=StringIO())
    facility = Facility.objects.get(code="FJ2")
    assert EscalationLevel.objects.filter(facility=facility).count() == 3
    assert NotificationChannel.objects.filter(facility=facility).count() == 3
    schedule = vanishing_schedule(facility)
    assert len(schedule) == VANISHING
    times = sorted(schedule.values())
    assert times[0] > start and len(set(times)) < VANISHING  # some vanish in pairs
    step = timedelta(minutes=5)
    at = start
    while at < times[-1] + timedelta(hours=2, minutes=10):  # past every deadline + grace
        at += step
        with time_machine.travel(at, tick=False):
            demo_readers_tick(now=at)
        reconcile(facility, at)
    missed = facility.alerts.filter(kind=AlertKind.MISSED_CHECKIN)
    assert set(missed.values_list("inmate_id", flat=True)) >= set(schedule)
    # The first to vanish went while their unit's readers were jammed: one
    # unit_silent, closed when the readers came back; the reader's alert and
    # the missed check-ins of the unit's other people link to it, and closed
    # as the readers scanned them again.
    jam_unit, _ = jam_of(facility, schedule)
    silences = list(facility.alerts.filter(kind=AlertKind.UNIT_SILENT))
    assert len(silences) == 1, [(a.location_id, a.opened_at, a.details) for a in silences]
    [silence] = silences
    assert silence.location_id == jam_unit and silence.status == AlertStatus.RESOLVED
    [offline] = facility.alerts.filter(kind=AlertKind.DEVICE_OFFLINE)
    assert offline.location_id == jam_unit and offline.status == AlertStatus.RESOLVED
    assert offline.details["unit_silent_alert"] == silence.pk
    for alert in missed.exclude(inmate_id__in=schedule):
        assert alert.details["unit_silent_alert"] == silence.pk
        assert alert.status == AlertStatus.RESOLVED and alert.resolved_by_observation
    assert not facility.alerts.filter(kind=AlertKind.IDENTITY_UNVERIFIED).exists()
    assert CheckIn.objects.filter(facility=facility).exists()
    # The readers declare what they read and scan only under their unit:
    # the evidence rules refused none of their scans.
    readers = facility.devices.filter(kind=DeviceKind.BIOMETRIC)
    assert {tuple(r.methods) for r in readers} == {("fingerprint", "rfid")}
    assert all(r.location_id for r in readers)
    assert not QuarantinedCheckIn.objects.filter(facility=facility).exists()
    # Asking again changes nothing: the schedule is fixed for the facility.
    assert vanishing_schedule(facility) == schedule
