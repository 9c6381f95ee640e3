"""The integrity signals report (issue 6): each signal fires on the trace it
looks for and stays quiet on a clean record, and the report costs the same
few queries however much there is to read."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from rest_framework.test import APIClient

from alerts.audit.period import Period
from alerts.audit.signals import SIGNALS, integrity_report
from alerts.audit.signals.resolutions import normalise, says_nothing
from alerts.models import AlertKind, AlertStatus, Severity
from alerts.services import alert_resolve
from custody import services
from custody.models import (
    CheckIn,
    Device,
    Facility,
    Inmate,
    Location,
    QuarantinedCheckIn,
    RollCall,
)
from custody.services import rollcalls
from tests import factories

pytestmark = pytest.mark.django_db

# 12:00 in Guatemala (the facility's zone); the report covers the day around it.
T0 = datetime(2026, 10, 14, 18, 0, tzinfo=UTC)
SINCE, UNTIL = T0 - timedelta(days=1), T0 + timedelta(days=1)


@dataclass
class World:
    facility: Facility
    unit: Location
    other_unit: Location
    cells: list
    people: list[Inmate] = field(default_factory=list)
    others: list[Inmate] = field(default_factory=list)
    officers: dict = field(default_factory=dict)
    reader: Device | None = None
    reader_key: str = ""

    def __getattr__(self, name):
        officers = self.__dict__.get("officers", {})
        if name in officers:
            return officers[name]
        raise AttributeError(name)


@pytest.fixture
def w(facility, make_user) -> World:
    """Unit B (three cells, twelve people) and unit C (one cell, three people),
    a reader in B-01, three guards, a supervisor and an auditor."""
    with time_machine.travel(T0 - timedelta(days=3), tick=False):
        unit = factories.LocationFactory(facility=facility, code="B", kind="unit")
        other = factories.LocationFactory(facility=facility, code="C", kind="unit")
        cells = [
            factories.CellFactory(facility=facility, parent=unit, code=f"B-0{n}", capacity=8)
            for n in (1, 2, 3)
        ]
        c_cell = factories.CellFactory(facility=facility, parent=other, code="C-01", capacity=8)
        world = World(facility=facility, unit=unit, other_unit=other, cells=[*cells, c_cell])
        for n in range(12):
            world.people.append(
                factories.InmateFactory(
                    facility=facility, cell=cells[n % 3], booking_number=f"GT-B-{n:02d}"
                )
            )
        for n in range(3):
            world.others.append(
                factories.InmateFactory(
                    facility=facility, cell=c_cell, booking_number=f"GT-C-{n:02d}"
                )
            )
        for name, role in [
            ("guard1", "guard"),
            ("guard2", "guard"),
            ("guard3", "guard"),
            ("sup", "supervisor"),
            ("sup2", "supervisor"),
            ("auditor", "auditor"),
        ]:
            world.officers[name] = make_user(role, facility, username=name)
        world.reader, world.reader_key = factories.device(
            facility, name="reader-B", location=cells[0]
        )
    return world


def report(w, since=SINCE, until=UNTIL):
    # A request made earlier in the test leaves its language active.
    with translation.override("en"):
        return integrity_report(
            facility=w.facility, period=Period(since=since, until=until, tz=w.facility.tzinfo)
        )


def signal(w, key, **period):
    return report(w, **period).signal(key)


def rows(found) -> list[list]:
    return [row.values for row in found.rows]


def urls(found) -> set[str]:
    return {link.url for row in found.rows for link in row.links}


def checkin(w, inmate, at, *, method="fingerprint", score=0.95, by=None, device=None, **extra):
    return factories.CheckInFactory(
        facility=w.facility,
        inmate=inmate,
        observed_at=at,
        method=method,
        score=None if method == "visual" else score,
        device=device,
        recorded_by=by,
        **extra,
    )


def count(
    w,
    *,
    by,
    at,
    marks,
    seconds_apart=60,
    verified_by=None,
    unit=None,
    kind="formal",
    unaccounted=(),
):
    """A submitted (or verified) count stored as the services leave it:
    ``marks`` are (person, status, method), one every ``seconds_apart``."""
    return factories.RollCallFactory(
        facility=w.facility,
        location=unit or w.unit,
        kind=kind,
        at=at,
        by=by,
        marks=marks,
        seconds_apart=seconds_apart,
        verified_by=verified_by,
        unaccounted_people=unaccounted,
    )


def present(people, method="visual"):
    return [(person, "present", method) for person in people]


def resolved_alert(w, *, by, text, at, kind=AlertKind.MISSED_CHECKIN, inmate=None, **extra):
    return factories.AlertFactory(
        facility=w.facility,
        kind=kind,
        status=AlertStatus.RESOLVED,
        inmate=inmate,
        opened_at=at - timedelta(minutes=30),
        acknowledged_at=at - timedelta(minutes=10),
        acknowledged_by=by,
        resolved_at=at,
        resolved_by=by,
        resolution=text,
        **extra,
    )


def test_the_report_has_every_signal_in_a_fixed_order_with_its_thresholds(w):
    found = report(w)

    assert [s.key for s in found.signals] == [
        "visual_share",
        "biometric_claims_by_persons",
        "counts_too_fast",
        "present_then_missing",
        "same_pair_verifying",
        "same_pair_approving_movements",
        "unverified_counts",
        "low_biometric_scores",
        "device_clock_drift",
        "late_evidence",
        "boilerplate_resolutions",
        "resolved_near_the_limit",
        "quarantined_scans",
        "approvals_by_made_accounts",
    ]
    assert len(found.signals) == len(SIGNALS)
    for s in found.signals:
        assert not s.fired and s.rows == [], s.key  # an empty record is a clean one
        assert s.title and s.explanation and s.thresholds and s.columns
        for value in s.thresholds.values():
            assert str(value) in s.explanation or str(round(value * 100)) in s.explanation


def test_thresholds_can_be_set_by_name_in_settings(w, settings):
    for n in range(6):
        checkin(w, w.people[n], T0 + timedelta(minutes=n), method="visual", by=w.guard1)
    assert not signal(w, "visual_share").fired  # six checks say too little by default

    settings.INTEGRITY_SIGNALS = {"VISUAL_MIN_CHECKS": 5}
    found = signal(w, "visual_share")
    assert found.fired
    assert found.thresholds["VISUAL_MIN_CHECKS"] == 5
    assert "5" in found.explanation


# --- 1. Visual share -----------------------------------------------------------


def test_visual_share_names_the_guard_and_the_unit_that_check_by_eye(w):
    for n in range(20):
        checkin(w, w.people[n % 12], T0 + timedelta(minutes=n), method="visual", by=w.guard1)
    for n in range(5):
        checkin(w, w.people[n], T0 + timedelta(minutes=30 + n), by=w.guard1)
    for n in range(25):
        checkin(w, w.people[n % 12], T0 + timedelta(hours=1, minutes=n), device=w.reader)
    for n in range(20):
        checkin(w, w.others[n % 3], T0 + timedelta(minutes=n), method="visual", by=w.guard3)

    found = signal(w, "visual_share")

    assert found.fired
    assert rows(found) == [
        ["officer", "guard3", 20, 20, 100.0],
        ["officer", "guard1", 25, 20, 80.0],
        ["unit", "C", 20, 20, 100.0],
        # Unit B: 20 visual of 50 (the reader's 25 are biometric): under the line.
    ]
    assert f"/audit/{w.facility.code}/officers/guard1/" in urls(found)
    assert any("checkins/?" in url and "location=C" in url for url in urls(found))


def test_manual_checks_are_a_persons_word_too_and_tag_reads_are_not(w):
    for n in range(12):
        checkin(w, w.people[n], T0 + timedelta(minutes=n), method="manual", by=w.guard2)
    for n in range(10):
        checkin(w, w.people[n], T0 + timedelta(hours=1, minutes=n), method="rfid", device=w.reader)
    for n in range(8):
        checkin(w, w.people[n], T0 + timedelta(hours=2, minutes=n), by=w.guard2)

    found = signal(w, "visual_share")

    # guard2: 12 manual of 20; unit B: 12 of 30 (the reader's tag reads are no one's word).
    assert rows(found) == [["officer", "guard2", 20, 12, 60.0]]


def test_visual_share_counts_present_marks_once_and_those_stored_without_a_check_in(w):
    # Through the services: a present mark is also stored as a check-in (same id).
    with time_machine.travel(T0, tick=False):
        rollcall, _created = rollcalls.rollcall_start(location=w.unit, kind="formal", by=w.guard2)
        rollcalls.rollcall_record_entries(
            rollcall=rollcall,
            raw_entries=[
                {
                    "id": str(uuid.uuid4()),
                    "inmate": p.booking_number,
                    "status": "present",
                    "method": "visual",
                    "observed_at": T0.isoformat(),
                }
                for p in w.people
            ],
            by=w.guard2,
        )
    # A count loaded without check-ins behind its marks (an import, a refused copy).
    count(w, by=w.guard2, at=T0 + timedelta(hours=2), marks=present(w.people))
    assert CheckIn.objects.filter(recorded_by=w.guard2).count() == 12

    found = signal(w, "visual_share")

    assert ["officer", "guard2", 24, 24, 100.0] in rows(found)
    assert ["unit", "B", 24, 24, 100.0] in rows(found)


def test_visual_share_is_quiet_below_the_share_or_the_number_of_checks(w):
    for n in range(19):  # all visual, but too few to say anything
        checkin(w, w.others[n % 3], T0 + timedelta(minutes=n), method="visual", by=w.guard3)
    for n in range(40):  # half and half: not above half
        method = "visual" if n % 2 else "fingerprint"
        checkin(w, w.people[n % 12], T0 + timedelta(minutes=n), method=method, by=w.guard1)

    found = signal(w, "visual_share")

    assert not found.fired
    assert found.rows == []


# --- 2. Counts too fast ----------------------------------------------------------


def test_a_count_of_twelve_people_marked_in_thirty_seconds_is_too_fast(w):
    fast = count(w, by=w.guard1, at=T0, marks=present(w.people), seconds_apart=2)

    found = signal(w, "counts_too_fast")

    assert found.fired
    [values] = rows(found)
    assert values[0] == "B"
    assert values[4] == "guard1"
    assert values[5] == 12  # people marked
    assert values[6] == 22  # seconds from the first mark to the last
    assert values[7] == round(12 * 60 / 22, 1)
    assert values[2].utcoffset() == timedelta(hours=-6)  # the facility's time
    assert f"/counts/{fast.pk}/" in urls(found)
    assert f"/audit/{w.facility.code}/officers/guard1/" in urls(found)


def test_everyone_marked_in_the_same_second_is_the_fastest_pace(w):
    count(w, by=w.guard1, at=T0, marks=present(w.people), seconds_apart=0)

    [values] = rows(signal(w, "counts_too_fast"))

    assert values[6] == 0
    assert values[7] == 12 * 60.0


def test_counts_walked_at_a_human_pace_or_too_small_are_not_too_fast(w):
    count(w, by=w.guard1, at=T0, marks=present(w.people), seconds_apart=30)  # 2 a minute
    count(w, by=w.guard2, at=T0, marks=present(w.others), seconds_apart=0, unit=w.other_unit)

    found = signal(w, "counts_too_fast")

    assert not found.fired


def test_a_count_submitted_outside_the_period_is_not_read(w):
    count(w, by=w.guard1, at=T0 - timedelta(days=3), marks=present(w.people), seconds_apart=0)

    assert not signal(w, "counts_too_fast").fired


# --- 3. Present, then missing ----------------------------------------------------


def test_marked_present_then_unaccounted_on_the_next_count_names_who_marked_them(w):
    ana = w.people[0]
    first = count(w, by=w.guard1, at=T0, marks=present(w.people))
    later = count(
        w,
        by=w.guard2,
        at=T0 + timedelta(minutes=45),
        marks=present(w.people[1:]),
        unaccounted=[ana],
    )

    found = signal(w, "present_then_missing")

    assert found.fired
    [row] = found.rows
    person, vouched_at, _how, where, officer, missing_at, found_how, minutes = row.values
    assert (person, officer, where) == (ana.booking_number, "guard1", "count of B")
    assert vouched_at == T0
    assert missing_at == later.submitted_at
    assert "unaccounted" in found_how
    assert minutes == round((later.submitted_at - T0).total_seconds() / 60, 1)
    row_urls = {link.url for link in row.links}
    assert f"/counts/{first.pk}/" in row_urls
    assert f"/counts/{later.pk}/" in row_urls
    assert f"/audit/{w.facility.code}/people/{ana.booking_number}/" in row_urls
    assert f"/audit/{w.facility.code}/officers/guard1/" in row_urls


def test_a_visual_check_then_a_declaration_of_escape_names_the_guard(w):
    berta = w.people[1]
    checkin(w, berta, T0, method="visual", by=w.guard3)
    with time_machine.travel(T0 + timedelta(minutes=80), tick=False):
        services.inmate_declare_absent(
            inmate=berta, status="escaped", by=w.sup, reason="Not in her cell at 13:20."
        )

    [values] = rows(signal(w, "present_then_missing"))

    assert values[0] == berta.booking_number
    assert values[4] == "guard3"
    assert values[3] == berta.cell.code
    assert values[7] == 80.0


def test_a_status_set_to_missing_on_the_record_counts_as_found_missing(w):
    dora = w.people[3]
    count(w, by=w.guard2, at=T0, marks=present([dora], method="fingerprint"))
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        services.inmate_update(inmate=dora, by=w.sup, status="missing")

    [row] = signal(w, "present_then_missing").rows

    assert row.values[:5] == [dora.booking_number, T0, "Fingerprint", "count of B", "guard2"]
    assert row.values[6] == "declared missing or escaped"
    assert any("action=inmate.updated" in link.url for link in row.links)


def test_a_missed_check_in_no_sighting_closed_counts_as_found_missing(w):
    carla, dora = w.people[2], w.people[3]
    count(w, by=w.guard1, at=T0, marks=present([carla, dora]))
    # Carla: nobody saw her again; a supervisor closed the alert by hand.
    resolved_alert(
        w,
        by=w.sup,
        text="Estaba en la enfermería, sin registro.",
        at=T0 + timedelta(hours=1),
        inmate=carla,
    )
    # Dora: seen again, and the record closed her alert by itself.
    factories.AlertFactory(
        facility=w.facility,
        status=AlertStatus.RESOLVED,
        dedup_key=f"missed_checkin:inmate:{dora.pk}",
        inmate=dora,
        opened_at=T0 + timedelta(minutes=40),
        resolved_at=T0 + timedelta(minutes=50),
        resolution="Seen again by a reader.",
        resolved_by_observation={"method": "fingerprint"},
    )

    found = signal(w, "present_then_missing")

    assert [values[0] for values in rows(found)] == [carla.booking_number]
    assert any("/api/v1/alerts/" in url for url in urls(found))


def test_found_missing_long_after_or_on_the_same_count_is_quiet(w):
    ana, berta = w.people[0], w.people[1]
    # Ana: marked present, unaccounted three hours later (outside the window).
    count(w, by=w.guard1, at=T0, marks=present([ana]))
    count(w, by=w.guard2, at=T0 + timedelta(hours=3), marks=[], unaccounted=[ana])
    # Berta: tapped present by mistake, then marked absent on the same count,
    # which ended with her unaccounted: the guard corrected the count.
    count(
        w,
        by=w.guard1,
        at=T0 + timedelta(hours=5),
        marks=[(berta, "present", "visual"), (berta, "absent", "visual")],
        unaccounted=[berta],
    )

    found = signal(w, "present_then_missing")

    assert not found.fired, rows(found)


# --- 4. Same pair verifying ------------------------------------------------------


def test_two_officers_who_verify_each_other_again_and_again(w):
    for n in range(3):
        count(
            w,
            by=w.guard1,
            at=T0 + timedelta(hours=n),
            marks=present(w.people[:2]),
            verified_by=w.guard2,
        )
        count(
            w,
            by=w.guard2,
            at=T0 + timedelta(hours=n, minutes=30),
            marks=present(w.people[:2]),
            verified_by=w.guard1,
        )
    # Someone else's count, verified by a third officer: not their pair.
    count(w, by=w.guard3, at=T0, marks=present(w.others), unit=w.other_unit, verified_by=w.sup)

    found = signal(w, "same_pair_verifying")

    assert found.fired
    [values] = rows(found)
    assert values[:6] == ["guard1", "guard2", 6, 3, 3, 100.0]
    assert f"/audit/{w.facility.code}/officers/guard2/" in urls(found)


def test_a_pair_that_is_a_small_part_of_what_its_verifier_does_is_quiet(w):
    for n in range(5):
        count(
            w,
            by=w.guard1,
            at=T0 + timedelta(hours=n),
            marks=present(w.people[:2]),
            verified_by=w.sup,
        )
    for n in range(10):
        count(
            w,
            by=w.guard2 if n % 2 else w.guard3,
            at=T0 + timedelta(hours=n, minutes=20),
            marks=present(w.people[2:4]),
            verified_by=w.sup,
        )
    for n in range(4):  # always each other, but only four times
        count(
            w,
            by=w.guard3,
            at=T0 + timedelta(hours=n, minutes=40),
            marks=present(w.others),
            unit=w.other_unit,
            verified_by=w.sup2,
        )
    # Informal counts are not verified by rule: not read.
    for n in range(6):
        count(
            w,
            by=w.guard1,
            at=T0 + timedelta(hours=n, minutes=50),
            kind="informal",
            marks=present(w.people[:2]),
            verified_by=w.guard2,
        )

    found = signal(w, "same_pair_verifying")

    # guard1-sup: 5 of the 15 sup verified (33%); guard3-sup2: 4 < 5.
    assert not found.fired, rows(found)


# --- 5. Low biometric scores -----------------------------------------------------


def test_weak_matches_are_counted_per_reader_and_per_person(w):
    ana, berta = w.people[0], w.people[1]
    for n, score in enumerate([0.70, 0.75, 0.79]):
        checkin(w, ana, T0 + timedelta(minutes=n), score=score, device=w.reader)
    checkin(w, berta, T0 + timedelta(minutes=9), score=0.5, by=w.guard1, method="face")
    checkin(w, berta, T0 + timedelta(minutes=10), score=0.99, device=w.reader)

    found = signal(w, "low_biometric_scores")

    assert found.fired
    assert rows(found) == [
        ["reader", "reader-B", 3, 0.7, T0 + timedelta(minutes=2)],
        ["officer", "guard1", 1, 0.5, T0 + timedelta(minutes=9)],
        ["person", ana.booking_number, 3, 0.7, T0 + timedelta(minutes=2)],
        ["person", berta.booking_number, 1, 0.5, T0 + timedelta(minutes=9)],
    ]
    assert f"/api/v1/devices/{w.reader.pk}/" in urls(found)


def test_good_matches_and_visual_checks_are_not_weak_matches(w):
    checkin(w, w.people[0], T0, score=0.80, device=w.reader)
    checkin(w, w.people[1], T0, score=0.97, device=w.reader)
    checkin(w, w.people[2], T0, score=None, device=w.reader, method="rfid")
    checkin(w, w.people[3], T0, method="visual", by=w.guard1)
    checkin(w, w.people[4], T0 - timedelta(days=2), score=0.1, device=w.reader)  # before

    assert not signal(w, "low_biometric_scores").fired


# --- 6. Device clock drift -------------------------------------------------------


def reader_client(w) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {w.reader_key}")
    return client


def test_a_fast_clock_shows_in_check_ins_refused_scans_and_the_heartbeat(w):
    reader = reader_client(w)
    checkin(w, w.people[0], T0, device=w.reader, received_at=T0 - timedelta(seconds=45))
    with time_machine.travel(T0, tick=False):
        answer = reader.post(
            "/api/v1/devices/heartbeat/", {"at": (T0 + timedelta(seconds=90)).isoformat()}
        )
        assert answer.status_code == 200, answer.content
        refused = reader.post(
            "/api/v1/checkins/",
            {
                "id": str(uuid.uuid4()),
                "inmate": w.people[1].booking_number,
                "location": w.cells[0].code,
                "method": "fingerprint",
                "observed_at": (T0 + timedelta(minutes=10)).isoformat(),
            },
            format="json",
        )
        assert refused.json()["rejected"] == 1
    device = Device.objects.get(pk=w.reader.pk)
    assert (device.clock_offset_seconds, device.clock_checked_at) == (90.0, T0)

    found = signal(w, "device_clock_drift")

    assert found.fired
    assert rows(found) == [["reader or tablet", "reader-B", 1, 45.0, 1, 0, 90.0, T0]]
    assert any("reason=clock_future" in url for url in urls(found))


def test_a_heartbeat_offset_alone_fires_and_a_small_one_does_not(w):
    with time_machine.travel(T0, tick=False):
        reader_client(w).post(
            "/api/v1/devices/heartbeat/", {"at": (T0 - timedelta(seconds=75)).isoformat()}
        )
    assert rows(signal(w, "device_clock_drift")) == [
        ["reader or tablet", "reader-B", 0, None, 0, 0, -75.0, T0]
    ]
    # The device's record says it too, in the facility's time.
    device = APIClient()
    device.force_authenticate(w.auditor)
    shown = device.get(f"/api/v1/devices/{w.reader.pk}/").json()
    assert shown["clock_offset_seconds"] == -75.0
    assert shown["clock_checked_at"] == T0.astimezone(w.facility.tzinfo).isoformat()

    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        reader_client(w).post(
            "/api/v1/devices/heartbeat/",
            {"at": (T0 + timedelta(minutes=5, seconds=10)).isoformat()},
        )
    assert not signal(w, "device_clock_drift").fired


def test_a_clock_too_far_ahead_for_a_heartbeat_is_still_caught_by_it(w):
    # The device is told its clock is wrong (400) and the offset is kept.
    with time_machine.travel(T0, tick=False):
        answer = reader_client(w).post(
            "/api/v1/devices/heartbeat/", {"at": (T0 + timedelta(minutes=10)).isoformat()}
        )
    assert answer.status_code == 400
    assert rows(signal(w, "device_clock_drift")) == [
        ["reader or tablet", "reader-B", 0, None, 0, 0, 600.0, T0]
    ]


def test_a_heartbeat_without_a_time_keeps_the_last_offset(w):
    with time_machine.travel(T0, tick=False):
        reader_client(w).post(
            "/api/v1/devices/heartbeat/", {"at": (T0 + timedelta(seconds=100)).isoformat()}
        )
        reader_client(w).post("/api/v1/devices/heartbeat/", {})
    device = Device.objects.get(pk=w.reader.pk)
    assert device.clock_offset_seconds == 100.0


def test_clocks_that_keep_time_are_quiet(w):
    checkin(w, w.people[0], T0, device=w.reader, received_at=T0 + timedelta(minutes=30))
    checkin(w, w.people[1], T0, device=w.reader, received_at=T0 - timedelta(seconds=20))
    with time_machine.travel(T0, tick=False):
        reader_client(w).post(
            "/api/v1/devices/heartbeat/", {"at": (T0 + timedelta(seconds=3)).isoformat()}
        )
    # A big offset reported long before the period says nothing about it.
    Device.objects.filter(pk=w.reader.pk).update(
        clock_offset_seconds=600, clock_checked_at=T0 - timedelta(days=10)
    )

    assert not signal(w, "device_clock_drift").fired


# --- 7. Boilerplate resolutions --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "empty"),
    [
        ("OK", True),
        ("Sin novedad.", True),
        ("sin  NOVEDÁD!!", True),
        ("Revisado, todo bien y resuelto", True),
        ("N/A", True),
        ("Done - fixed", True),
        ("Falsa alarma", True),
        ("No visto en la celda", False),
        ("Reported to the supervisor", False),
        ("Estaba en la enfermería; el lector B-01 no lo registró", False),
    ],
)
def test_empty_phrases_are_recognised_without_case_accents_or_punctuation(text, empty):
    assert says_nothing(normalise(text)) is empty


def test_normalise():
    assert normalise("  Sin NOVEDÁD,  todo—bien!! ") == "sin novedad todo bien"


def test_resolutions_that_say_nothing_are_grouped_per_officer_and_wording(w):
    template = "Se verificó la celda y el interno estaba presente en su lugar."
    for n in range(5):  # the same long sentence on five alerts: a template
        officer = w.sup if n < 3 else w.sup2
        resolved_alert(w, by=officer, text=template, at=T0 + timedelta(minutes=n))
    resolved_alert(w, by=w.sup, text="Sin novedad", at=T0 + timedelta(hours=1))
    resolved_alert(w, by=w.sup, text="sin novedad.", at=T0 + timedelta(hours=2))
    resolved_alert(w, by=w.sup2, text="Trasladado", at=T0 + timedelta(hours=3))
    # Through the service too: at least ten characters, and still empty.
    with time_machine.travel(T0 + timedelta(hours=4), tick=False):
        alert = factories.AlertFactory(
            facility=w.facility,
            kind=AlertKind.DEVICE_OFFLINE,
            severity=Severity.MEDIUM,
            dedup_key="device_offline:device:x",
            opened_at=T0 + timedelta(hours=3),
        )
        alert_resolve(alert=alert, by=w.sup2, resolution="OK, revisado. Todo bien.")

    found = signal(w, "boilerplate_resolutions")

    assert found.fired
    by_wording = {(values[0], values[1]): values for values in rows(found)}
    assert by_wording[("sup", template)][2:5] == ["used 5 times", 3, 5]
    assert by_wording[("sup2", template)][3:5] == [2, 5]
    assert by_wording[("sup", "Sin novedad")][2:4] == ["too short, empty phrase", 2]
    assert by_wording[("sup2", "Trasladado")][2] == "too short"
    assert by_wording[("sup2", "OK, revisado. Todo bien.")][2] == "empty phrase"
    assert len(found.rows) == 5
    assert f"/api/v1/alerts/{alert.pk}/" in urls(found)


def test_resolutions_that_say_what_happened_are_quiet(w):
    resolved_alert(w, by=w.sup, text="Estaba en el patio, el lector B-01 falló.", at=T0)
    resolved_alert(w, by=w.sup, text="Audiencia en el juzgado 3, regresó 14:10.", at=T0)
    resolved_alert(w, by=w.sup, text="OK", at=T0 - timedelta(days=3))  # before the period
    # Closed by a sighting (no officer): the record wrote it, not a person.
    factories.AlertFactory(
        facility=w.facility,
        status=AlertStatus.RESOLVED,
        dedup_key="missed_checkin:inmate:auto",
        opened_at=T0,
        resolved_at=T0 + timedelta(minutes=3),
        resolution="ok",
        resolved_by_observation={"method": "fingerprint"},
    )

    assert not signal(w, "boilerplate_resolutions").fired


# --- Sitting on alerts -----------------------------------------------------------


def owned_alert(w, *, by, at, used, window=timedelta(minutes=30), level=0, resolver=None):
    """An alert ``by`` acknowledged at ``at`` with ``window`` to resolve it,
    resolved after ``used`` of that window (by ``resolver``, default ``by``)."""
    return factories.AlertFactory(
        facility=w.facility,
        status=AlertStatus.RESOLVED,
        opened_at=at - timedelta(minutes=2),
        acknowledged_at=at,
        acknowledged_by=by,
        acknowledged_level=0,
        escalation_level=level,
        resolve_by=at + window,
        resolved_at=at + window * used,
        resolved_by=resolver or by,
        resolution="Encontrado en el patio; el lector del sector B falló.",
    )


def test_an_officer_who_owns_alerts_and_resolves_them_just_before_they_climb(w):
    for n, used in enumerate((0.85, 0.97, 0.9, 0.99)):
        owned_alert(w, by=w.sup, at=T0 + timedelta(hours=n), used=used)
    owned_alert(w, by=w.sup, at=T0 + timedelta(hours=5), used=0.2)  # a quick one
    honest = [owned_alert(w, by=w.sup2, at=T0 + timedelta(hours=n), used=0.1) for n in range(6)]
    owned_alert(w, by=w.sup2, at=T0 + timedelta(hours=7), used=0.9)  # one busy shift

    found = signal(w, "resolved_near_the_limit")

    assert found.fired
    assert rows(found) == [
        [
            "sup",
            4,
            5,
            92.8,
            (T0 + timedelta(minutes=25.5)).astimezone(w.facility.tzinfo),
            (T0 + timedelta(hours=3, minutes=29.7)).astimezone(w.facility.tzinfo),
        ]
    ]
    assert not any(f"/api/v1/alerts/{a.pk}/" in urls(found) for a in honest)
    assert len([u for u in urls(found) if u.startswith("/api/v1/alerts/")]) == 4


def test_quick_resolvers_climbed_alerts_and_other_resolvers_are_not_sitting(w):
    for n in range(5):
        at = T0 + timedelta(hours=n)
        owned_alert(w, by=w.sup, at=at, used=0.3)  # an honest quick resolver
        owned_alert(w, by=w.sup2, at=at, used=0.95, level=1)  # climbed past its owner: seen
        owned_alert(w, by=w.guard1, at=at, used=0.95, resolver=w.sup)  # owner and closer differ
        owned_alert(w, by=w.guard2, at=at, used=1.2)  # resolved after the limit (it climbed)

    assert not signal(w, "resolved_near_the_limit").fired


def test_a_sitter_through_the_services_is_caught(w):
    from alerts.services import alert_acknowledge

    for n in range(3):
        opened = T0 + timedelta(hours=n)
        alert = factories.AlertFactory(facility=w.facility, opened_at=opened)
        with time_machine.travel(opened + timedelta(minutes=1), tick=False):
            alert = alert_acknowledge(alert=alert, by=w.sup)
        assert alert.resolve_by == opened + timedelta(minutes=31)  # high: 30 minutes
        with time_machine.travel(alert.resolve_by - timedelta(minutes=2), tick=False):
            alert_resolve(alert=alert, by=w.sup, resolution="Estaba en el taller de carpintería.")

    [row] = rows(signal(w, "resolved_near_the_limit"))
    assert row[:3] == ["sup", 3, 3]


# --- Counts nobody vouched for --------------------------------------------------


def test_formal_counts_never_verified_or_verified_late_are_named(w):
    never = count(w, by=w.guard1, at=T0, marks=present(w.people[:3]))
    late = count(w, by=w.guard2, at=T0 + timedelta(hours=1), marks=present(w.people[3:6]))
    submitted = late.submitted_at
    RollCall.objects.filter(pk=late.pk).update(
        status="verified", verified_by=w.sup, verified_at=submitted + timedelta(hours=3)
    )

    found = signal(w, "unverified_counts")

    assert found.fired
    assert rows(found) == [
        ["B", never.submitted_at, "guard1", 0, None, None, None],
        ["B", submitted, "guard2", 0, submitted + timedelta(hours=3), "sup", 180],
    ]
    assert f"/counts/{never.pk}/" in urls(found)
    assert f"/audit/{w.facility.code}/officers/sup/" in urls(found)


def test_counts_verified_in_time_informal_or_just_submitted_are_quiet(w):
    count(w, by=w.guard1, at=T0, marks=present(w.people[:3]), verified_by=w.sup)
    count(w, by=w.guard1, at=T0 + timedelta(hours=1), marks=present(w.people[3:6]), kind="informal")
    with time_machine.travel(UNTIL - timedelta(minutes=20), tick=False):
        # Submitted ten minutes ago: its verifier may still be on the way.
        count(w, by=w.guard2, at=UNTIL - timedelta(minutes=31), marks=present(w.people[6:7]))
        assert not signal(w, "unverified_counts").fired


# --- 8. Quarantined scans --------------------------------------------------------


def quarantined(w, *, reason, at, device=None, by=None):
    return QuarantinedCheckIn.objects.create(
        received_at=at,
        facility=w.facility,
        device=device,
        submitted_by=by,
        item_id=str(uuid.uuid4()),
        reason=reason,
        errors={"inmate": ["unknown"]},
        raw={"inmate": "GT-NOBODY"},
        fingerprint=uuid.uuid4().hex,
    )


def test_quarantined_scans_per_reason_device_and_officer(w):
    quarantined(w, reason="unknown_inmate", at=T0, device=w.reader)
    quarantined(w, reason="unknown_inmate", at=T0 + timedelta(hours=1), device=w.reader)
    quarantined(w, reason="invalid", at=T0 + timedelta(hours=2), by=w.guard1)

    found = signal(w, "quarantined_scans")

    assert found.fired
    assert rows(found) == [
        ["reason", "unknown_inmate", 2, T0, T0 + timedelta(hours=1)],
        ["reason", "invalid", 1, T0 + timedelta(hours=2), T0 + timedelta(hours=2)],
        ["reader or tablet", "reader-B", 2, T0, T0 + timedelta(hours=1)],
        ["officer", "guard1", 1, T0 + timedelta(hours=2), T0 + timedelta(hours=2)],
    ]
    assert any("quarantine/?" in url and "reason=unknown_inmate" in url for url in urls(found))


def test_each_quarantine_link_lists_exactly_the_scans_its_row_counts(w, api_as):
    quarantined(w, reason="unknown_inmate", at=T0, device=w.reader)
    quarantined(w, reason="unknown_inmate", at=T0 + timedelta(hours=1), device=w.reader)
    quarantined(w, reason="invalid", at=T0 + timedelta(hours=2), by=w.guard1)
    quarantined(w, reason="invalid", at=T0 + timedelta(days=5), by=w.guard1)  # after the period
    auditor = api_as(w.auditor)

    for row in signal(w, "quarantined_scans").rows:
        link = next(link for link in row.links if "/quarantine/" in link.url)
        answer = auditor.get(link.url)
        assert answer.status_code == 200, answer.content
        assert answer.json()["count"] == row.values[2], (row.values, link.url)


def test_a_scan_refused_through_the_api_is_a_quarantined_scan(w):
    with time_machine.travel(T0, tick=False):
        reader_client(w).post(
            "/api/v1/checkins/",
            {
                "id": str(uuid.uuid4()),
                "inmate": "GT-NOBODY",
                "location": w.cells[0].code,
                "method": "fingerprint",
                "observed_at": T0.isoformat(),
            },
            format="json",
        )

    assert rows(signal(w, "quarantined_scans"))[0][:3] == ["reason", "unknown_inmate", 1]


def test_no_quarantined_scans_in_the_period_is_quiet(w, other_facility):
    quarantined(w, reason="invalid", at=T0 - timedelta(days=2), device=w.reader)
    QuarantinedCheckIn.objects.create(  # another facility's
        received_at=T0,
        facility=other_facility,
        reason="invalid",
        errors={},
        raw={},
        fingerprint="x" * 64,
    )

    assert not signal(w, "quarantined_scans").fired


# --- 10. Biometric claims refused from persons ---------------------------------


def guard_client(w, guard) -> APIClient:
    client = APIClient()
    client.force_authenticate(guard)
    return client


def test_a_guard_claiming_fingerprints_on_their_own_token_is_named(w):
    with time_machine.travel(T0, tick=False):
        for method in ("fingerprint", "fingerprint", "iris", "visual"):
            guard_client(w, w.guard1).post(
                "/api/v1/checkins/",
                {
                    "id": str(uuid.uuid4()),
                    "inmate": w.people[0].booking_number,
                    "location": w.cells[0].code,
                    "method": method,
                    "score": 0.99 if method != "visual" else None,
                    "observed_at": T0.isoformat(),
                },
                format="json",
            )
    # A reader refused for a method it does not declare is a device's fault, not a claim.
    quarantined(w, reason="method_not_allowed", at=T0, device=w.reader)

    found = signal(w, "biometric_claims_by_persons")

    assert found.fired
    assert rows(found) == [["guard1", "fingerprint, iris", 3, T0, T0]]
    assert any(
        "reason=method_not_allowed" in url and "submitted_by=guard1" in url for url in urls(found)
    )


def test_no_biometric_claims_from_persons_is_quiet(w):
    checkin(w, w.people[0], T0, method="visual", by=w.guard1)
    quarantined(w, reason="clock_past", at=T0, by=w.guard1)
    assert not signal(w, "biometric_claims_by_persons").fired


# --- 11. Late evidence -----------------------------------------------------------


def test_late_observations_per_reader_and_officer_those_closing_alerts_first(w):
    late = T0 + timedelta(hours=2)
    for n in range(3):  # the reader's buffer: two hours late
        checkin(w, w.people[n], T0 + timedelta(minutes=n), device=w.reader, received_at=late)
    closer = checkin(
        w, w.people[5], T0, method="visual", by=w.guard2, received_at=T0 + timedelta(minutes=45)
    )
    checkin(w, w.people[6], T0, device=w.reader, received_at=T0 + timedelta(minutes=20))  # fine
    factories.AlertFactory(
        facility=w.facility,
        kind=AlertKind.MISSED_CHECKIN,
        status=AlertStatus.RESOLVED,
        inmate=w.people[5],
        opened_at=T0 - timedelta(minutes=20),
        resolved_at=T0 + timedelta(minutes=46),
        resolution="Seen again (observed 12:00, received 12:45).",
        resolved_by_observation={"checkin": str(closer.pk), "delay_seconds": 45 * 60},
    )

    found = signal(w, "late_evidence")

    assert found.fired
    assert rows(found) == [
        ["officer", "guard2", 1, 1, 45, T0],
        ["reader or tablet", "reader-B", 3, 0, 120, T0 + timedelta(minutes=2)],
    ]
    assert f"/api/v1/devices/{w.reader.pk}/" in urls(found)


def test_observations_that_arrive_in_time_are_quiet(w):
    checkin(w, w.people[0], T0, device=w.reader, received_at=T0 + timedelta(minutes=29))
    checkin(w, w.people[1], T0, method="visual", by=w.guard1)
    # Late, but made before the period.
    checkin(w, w.people[2], SINCE - timedelta(hours=1), device=w.reader, received_at=T0)
    assert not signal(w, "late_evidence").fired


# --- What it costs ---------------------------------------------------------------


def populate(w, scale: int):
    """Some of every trace, ``scale`` times over."""
    for n in range(scale):
        at = T0 + timedelta(minutes=7 * n)
        for person in w.people:
            checkin(w, person, at, method="visual", by=w.guard1)
            checkin(
                w,
                person,
                at + timedelta(seconds=30),
                score=0.6,
                device=w.reader,
                received_at=at - timedelta(minutes=1),
            )
        count(
            w,
            by=w.guard1,
            at=at,
            marks=present(w.people),
            seconds_apart=1,
            verified_by=w.guard2,
            unaccounted=w.people[:2],
        )
        count(w, by=w.guard3, at=at, marks=present(w.people[:1]))  # never verified
        resolved_alert(w, by=w.sup, text="ok ok", at=at, inmate=w.people[n % 12])
        owned_alert(w, by=w.sup2, at=at, used=0.9)
        quarantined(w, reason="invalid", at=at, device=w.reader)
        quarantined(w, reason="clock_future", at=at, by=w.guard3)
        quarantined(w, reason="method_not_allowed", at=at, by=w.guard2)
        buffered = checkin(
            w, w.people[n % 12], at, device=w.reader, received_at=at + timedelta(hours=1)
        )
        factories.AlertFactory(
            facility=w.facility,
            kind=AlertKind.MISSED_CHECKIN,
            status=AlertStatus.RESOLVED,
            inmate=w.people[n % 12],
            opened_at=at - timedelta(minutes=10),
            resolved_at=at + timedelta(hours=1),
            resolution="Seen again.",
            resolved_by_observation={"checkin": str(buffered.pk), "delay_seconds": 3600},
        )
        with time_machine.travel(at, tick=False):  # a departure, the same pair each way
            maker, checker = (w.sup, w.sup2) if n % 2 else (w.sup2, w.sup)
            movement = services.movement_request(
                inmate=w.others[n % 3],
                kind="court",
                by=maker,
                expected_back_at=at + timedelta(hours=2),
            )
            services.movement_approve(movement=movement, by=checker)
            services.movement_cancel(movement=movement, by=maker, reason="test")
        with time_machine.travel(at + timedelta(minutes=1), tick=False):
            services.ledger_append(
                facility=w.facility,
                actor=w.sup,
                action="inmate.declared_missing",
                subject=f"inmate:{w.people[n % 12].booking_number}",
                data={},
            )
            # The counter resets the password of the guard who verifies their counts.
            services.ledger_append(
                facility=w.facility,
                actor=w.guard1,
                action="user.reset",
                subject="user:guard2",
                data={"password_changed": True},
            )


def queries_for(w) -> int:
    with CaptureQueriesContext(connection) as captured:
        found = report(w)
    assert all(s.fired for s in found.signals), [s.key for s in found.signals if not s.fired]
    return len(captured)


def test_the_report_reads_a_fixed_number_of_queries_whatever_the_data(
    w, django_assert_max_num_queries
):
    populate(w, 5)
    small = queries_for(w)
    populate(w, 15)
    large = queries_for(w)

    assert small == large
    with django_assert_max_num_queries(29):
        report(w)


# --- Approved by an account the requester made -------------------------------------


def made(w, *, maker, account, at, action="user.created"):
    with time_machine.travel(at, tick=False):
        services.ledger_append(
            facility=w.facility,
            actor=maker,
            action=action,
            subject=f"user:{account.username}",
            data={"password_changed": True},
        )


def test_approvals_by_an_account_the_requester_made_fire(w):
    from custody.models import PendingChange

    made(w, maker=w.guard1, account=w.guard2, at=T0 - timedelta(days=10))
    count(w, by=w.guard1, at=T0, marks=present(w.people[:2]), verified_by=w.guard2)
    made(w, maker=w.sup2, account=w.sup, at=T0 - timedelta(days=2), action="user.reset")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        movement = services.movement_request(
            inmate=w.people[0],
            kind="court",
            by=w.sup2,
            destination="Juzgado 3",
            expected_back_at=T0 + timedelta(hours=6),
        )
        services.movement_approve(movement=movement, by=w.sup)
    change = PendingChange.objects.create(
        facility=w.facility,
        kind="facility",
        target_id=str(w.facility.pk),
        target_label=w.facility.code,
        proposed={"grace_seconds": 900},
        baseline={"grace_seconds": 300},
        weakened=["grace_seconds"],
        status="approved",
        requested_by=w.sup2,
        requested_at=T0,
        expires_at=T0 + timedelta(days=7),
        decided_by=w.sup,
        decided_at=T0 + timedelta(hours=2),
    )

    found = signal(w, "approvals_by_made_accounts")

    assert found.fired
    assert [values[:4] for values in rows(found)] == [
        ["count", values[1], "guard1", "guard2"] for values in rows(found)[:1]
    ] + [["movement", movement.pk, "sup2", "sup"], ["change", change.pk, "sup2", "sup"]]
    assert f"/api/v1/changes/{change.pk}/" in urls(found)


def test_an_account_made_long_before_or_by_someone_else_is_quiet(w):
    made(w, maker=w.guard1, account=w.guard2, at=T0 - timedelta(days=31))
    made(w, maker=w.guard3, account=w.guard2, at=T0 - timedelta(days=1))
    count(w, by=w.guard1, at=T0, marks=present(w.people[:2]), verified_by=w.guard2)

    assert not signal(w, "approvals_by_made_accounts").fired
