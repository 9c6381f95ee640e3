"""Check-ins are partitioned by month so that old months can be archived."""

from datetime import UTC, datetime

import time_machine
from django.conf import settings
from django.db import connection

from custody import tasks
from custody.models import CheckIn
from tests import factories


def partition_of(checkin_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM custody_checkin WHERE id = %s", [checkin_id]
        )
        return cursor.fetchone()[0]


def test_upkeep_makes_next_months_partitions_and_scans_land_in_their_month(db, api_as):
    with time_machine.travel(datetime(2031, 5, 20, 12, tzinfo=UTC), tick=False):
        created = tasks.ensure_checkin_partitions()
        assert created == 4  # May to August 2031
        assert tasks.ensure_checkin_partitions() == 0  # idempotent
        facility = factories.FacilityFactory()
        inmate = factories.InmateFactory(facility=facility)
        _device, key = factories.device(facility)
        item = {
            "id": "7b7c8f1e-2f0a-4a51-9f0e-0d6a3b1c2d3e",
            "inmate": inmate.booking_number,
            "location": inmate.cell.code,
            "method": "iris",
            "observed_at": "2031-05-20T05:59:00-06:00",
        }
        assert api_as(device_key=key).post("/api/v1/checkins/", item).json()["accepted"] == 1

    assert partition_of(item["id"]) == "custody_checkin_2031_05"
    assert CheckIn.objects.filter(id=item["id"]).exists()


def test_a_scan_outside_every_month_partition_still_lands_in_the_default_one(db):
    facility = factories.FacilityFactory()
    inmate = factories.InmateFactory(facility=facility)
    with time_machine.travel(datetime(2040, 1, 2, tzinfo=UTC), tick=False):
        checkin = CheckIn.objects.create(
            observed_at=datetime(2040, 1, 1, tzinfo=UTC),
            received_at=datetime(2040, 1, 1, tzinfo=UTC),
            facility=facility,
            inmate=inmate,
            location=inmate.cell,
            method="face",
            is_biometric=True,
        )
    assert partition_of(checkin.id) == "custody_checkin_default"


def test_beat_runs_the_upkeep():
    entries = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "custody.checkin_partitions_ensure" in entries
