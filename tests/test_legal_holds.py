"""Issue 19: legal holds are placed by a supervisor, lifted only by two
officers, never edited or deleted (the database says so too), listed for
auditors, and each step is in the ledger."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError
from django.utils import translation

from custody.exceptions import Conflict
from custody.models import LedgerEvent, LegalHold, Role
from custody.services.holds import hold_lift_approve, hold_lift_request, hold_place
from tests import factories

START = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def people(facility, make_user):
    return {
        "supervisor": make_user(Role.SUPERVISOR, facility),
        "admin": make_user(Role.ADMIN, facility),
        "guard": make_user(Role.GUARD, facility),
        "auditor": make_user(Role.AUDITOR, facility),
    }


def place(facility, by, **kwargs):
    kwargs.setdefault("period_start", START)
    kwargs.setdefault("reason", "Escape of 2025-03-04, case 77/2025")
    return hold_place(facility=facility, by=by, **kwargs)


def test_lifting_takes_two_officers_and_each_step_is_in_the_ledger(facility, people):
    hold = place(facility, people["supervisor"])
    with pytest.raises(Conflict, match="Nobody has asked"):
        hold_lift_approve(hold=hold, by=people["admin"])

    hold_lift_request(hold=hold, by=people["admin"], reason="Case 77/2025 closed by the court")
    with pytest.raises(PermissionDenied, match="second officer"):
        hold_lift_approve(hold=hold, by=people["admin"])
    with pytest.raises(Conflict, match="already asked for"):
        hold_lift_request(hold=hold, by=people["supervisor"], reason="Another reason here")
    hold.refresh_from_db()
    assert hold.is_active

    hold_lift_approve(hold=hold, by=people["supervisor"])
    hold.refresh_from_db()
    assert not hold.is_active and hold.lifted_by == people["supervisor"]
    with pytest.raises(Conflict, match="lifted already"):
        hold_lift_approve(hold=hold, by=people["supervisor"])
    actions = list(
        LedgerEvent.objects.filter(subject=f"hold:{hold.pk}")
        .order_by("seq")
        .values_list("action", "actor")
    )
    assert actions == [
        ("hold.placed", f"user:{people['supervisor'].username}"),
        ("hold.lift_requested", f"user:{people['admin'].username}"),
        ("hold.lifted", f"user:{people['supervisor'].username}"),
    ]


def test_only_supervisors_and_admins_of_the_facility_place_or_lift(
    facility, other_facility, people, make_user
):
    for who in ("guard", "auditor"):
        with pytest.raises(PermissionDenied):
            place(facility, people[who])
    with pytest.raises(PermissionDenied, match="not assigned"):
        place(other_facility, people["supervisor"])
    hold = place(facility, people["supervisor"])
    outsider = make_user(Role.SUPERVISOR, other_facility)
    with pytest.raises(PermissionDenied):
        hold_lift_request(hold=hold, by=outsider, reason="Not my facility at all")
    assert LegalHold.objects.count() == 1


def test_bad_input_is_refused_and_nothing_is_stored(facility, other_facility, people):
    by = people["supervisor"]
    for kwargs, field in (
        ({"reason": "no"}, "reason"),
        ({"period_end": datetime(2025, 2, 1, tzinfo=UTC)}, "period_end"),
        ({"period_start": datetime(2025, 3, 1)}, "period_start"),
        ({"location": factories.LocationFactory(facility=other_facility)}, "location"),
    ):
        with pytest.raises(ValidationError) as refused:
            place(facility, by, **kwargs)
        assert field in refused.value.message_dict
    hold = place(facility, by)
    with pytest.raises(ValidationError):
        hold_lift_request(hold=hold, by=by, reason="  ")
    assert LegalHold.objects.count() == 1
    assert LedgerEvent.objects.filter(action__startswith="hold.").count() == 1


def test_the_database_refuses_deleting_or_rewriting_a_hold(facility, people):
    hold = place(facility, people["supervisor"])
    for sql in (
        "DELETE FROM custody_legalhold WHERE id = %s",
        "UPDATE custody_legalhold SET reason = 'nothing' WHERE id = %s",
        "UPDATE custody_legalhold SET period_end = period_start + interval '1 day' WHERE id = %s",
        "UPDATE custody_legalhold SET lifted_at = now(), lifted_by_id = placed_by_id WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [hold.pk])
    hold_lift_request(hold=hold, by=people["supervisor"], reason="Case closed by the court")
    # The one who asked cannot approve, not even by hand.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE custody_legalhold SET lifted_at = now(), lifted_by_id = %s WHERE id = %s",
            [people["supervisor"].pk, hold.pk],
        )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE custody_legalhold SET lift_reason = 'changed my mind' WHERE id = %s", [hold.pk]
        )
    hold.refresh_from_db()
    assert hold.reason.startswith("Escape") and hold.is_active


def test_the_api_lists_for_auditors_and_places_and_lifts_with_two_officers(
    facility, people, english_api_as
):
    supervisor, admin = english_api_as(people["supervisor"]), english_api_as(people["admin"])
    inmate = factories.InmateFactory(facility=facility)
    body = {
        "facility": facility.code,
        "inmate": inmate.booking_number,
        "period_start": "2025-03-01T00:00:00Z",
        "period_end": "2025-04-01T00:00:00Z",
        "reason": "Escape of 2025-03-04, case 77/2025",
    }

    response = supervisor.post("/api/v1/holds/", body, format="json")
    assert response.status_code == 201, response.json()
    hold = response.json()
    assert (hold["status"], hold["inmate"], hold["placed_by"]) == (
        "active",
        inmate.booking_number,
        people["supervisor"].username,
    )
    url = f"/api/v1/holds/{hold['id']}/"
    assert english_api_as(people["guard"]).get("/api/v1/holds/").status_code == 403
    auditor = english_api_as(people["auditor"])
    assert [h["id"] for h in auditor.get("/api/v1/holds/").json()["results"]] == [hold["id"]]
    assert auditor.post("/api/v1/holds/", body, format="json").status_code == 403
    assert auditor.post(url + "lift-request/", {"reason": "a good reason"}).status_code == 403

    answer = admin.post(url + "lift-request/", {"reason": "Case closed"}, format="json")
    assert answer.json()["status"] == "lift_requested"
    refused = admin.post(url + "lift-approve/")
    assert refused.status_code == 403 and "second officer" in refused.json()["detail"]
    lifted = supervisor.post(url + "lift-approve/")
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == people["supervisor"].username
    assert supervisor.post(url + "lift-approve/").status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"facility": "NOPE"}, "facility"),
        ({"inmate": "NO-SUCH-1"}, "inmate"),
        ({"location": "NOWHERE"}, "location"),
        ({"period_start": "yesterday"}, "period_start"),
        ({"period_end": "2025-02-01T00:00:00Z"}, "period_end"),
        ({"reason": "x"}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
    ],
)
def test_the_api_refuses_bad_input_with_400(facility, people, english_api_as, change, field):
    body = {
        "facility": facility.code,
        "period_start": "2025-03-01T00:00:00Z",
        "reason": "Escape of 2025-03-04",
        **change,
    }
    response = english_api_as(people["supervisor"]).post("/api/v1/holds/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not LegalHold.objects.exists()


def test_the_page_lists_holds_in_spanish_and_english_and_lifts_with_two_officers(
    facility, people, client, make_user
):
    hold = place(facility, people["supervisor"])
    client.force_login(people["auditor"])
    page = client.get("/holds/", HTTP_ACCEPT_LANGUAGE="es")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Retenciones legales" in text and "Escape of 2025-03-04" in text
    assert "Pedir levantarla" not in text  # auditors read only
    assert client.get("/holds/", HTTP_ACCEPT_LANGUAGE="en").content.decode().count("Legal holds")
    assert (
        client.post(f"/holds/{hold.pk}/lift-request/", {"reason": "Case closed"}).status_code == 403
    )

    client.force_login(people["supervisor"])
    client.post(f"/holds/{hold.pk}/lift-request/", {"reason": "Case closed by the court"})
    refused = client.post(f"/holds/{hold.pk}/lift-approve/")
    assert refused.status_code == 403
    second = make_user(Role.SUPERVISOR, facility)
    client.force_login(second)
    assert client.post(f"/holds/{hold.pk}/lift-approve/").status_code == 302
    hold.refresh_from_db()
    assert hold.lifted_by == second
    placed = client.post(
        "/holds/place/",
        {
            "facility": facility.pk,
            "period_start": "2025-05-01 00:00",
            "reason": "Inquiry into the night shift",
        },
    )
    assert placed.status_code == 302 and LegalHold.objects.count() == 2


def test_the_page_reads_and_shows_a_period_in_the_facility_local_time(facility, people, client):
    # The server runs on one zone; a facility's officers type their own.
    facility.timezone = "Asia/Tokyo"
    facility.save(update_fields=["timezone"])
    client.force_login(people["supervisor"])
    placed = client.post(
        "/holds/place/",
        {
            "facility": facility.pk,
            "period_start": "2025-05-01 00:00",
            "period_end": "2025-05-02 09:30",
            "reason": "Inquiry into the night shift",
        },
    )
    assert placed.status_code == 302
    hold = LegalHold.objects.get()
    assert hold.period_start == datetime(2025, 4, 30, 15, 0, tzinfo=UTC)
    assert hold.period_end == datetime(2025, 5, 2, 0, 30, tzinfo=UTC)
    page = client.get("/holds/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 May 2025 00:00" in page and "2 May 2025 09:30" in page
