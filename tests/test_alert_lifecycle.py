"""Alert lifecycle: open → acknowledged → resolved, the ladder, the record
that cannot be erased, and the watcher watched (invariants 5, 6 and 8)."""

from datetime import timedelta

import pytest
import time_machine
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertKind,
    AlertStatus,
    EscalationLevel,
    Notification,
    NotificationChannel,
    ReconcilerState,
)
from alerts.services import alert_acknowledge, alert_resolve
from custody.models import LedgerEvent
from tests import factories
from tests.alerting import reconcile

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)
MISSED = T0 + timedelta(minutes=66)  # admission + 60 min + 5 min grace, plus one


@pytest.fixture
def w(facility, other_facility, make_user):
    with time_machine.travel(T0, tick=False):
        cell = factories.CellFactory(facility=facility, code="A-01")
        inmate = factories.InmateFactory(
            facility=facility, cell=cell, booking_number="GT-1", admitted_at=T0
        )
        far = factories.InmateFactory(facility=other_facility, admitted_at=T0)
    for level in range(3):
        NotificationChannel.objects.create(
            facility=facility,
            level=level,
            name=f"L{level}",
            kind="email",
            target=f"nivel{level}@fj2.gob.gt",
        )
    return {
        "facility": facility,
        "other": other_facility,
        "inmate": inmate,
        "far": far,
        "sup": make_user("supervisor", facility),
        "guard": make_user("guard", facility),
        "auditor": make_user("auditor", facility),
        "outsider": make_user("supervisor", other_facility),
    }


def _missed(w) -> Alert:
    reconcile(w["facility"], MISSED)
    return Alert.objects.get(kind=AlertKind.MISSED_CHECKIN, inmate=w["inmate"])


def _deliveries(alert, event=None):
    rows = Notification.objects.filter(alert=alert)
    if event:
        rows = rows.filter(event=event)
    return sorted(rows.values_list("event", "level", "channel__name"))


# --- API --------------------------------------------------------------------


def test_everyone_reads_their_facilitys_alerts_with_filters(w, api_as):
    alert = _missed(w)
    reconcile(w["other"], MISSED)
    body = api_as(w["guard"]).get("/api/v1/alerts/?status=open&kind=missed_checkin").json()
    assert [a["id"] for a in body["results"]] == [alert.pk]
    row = body["results"][0]
    assert row["inmate"] == "GT-1" and row["location"] == "A-01"
    assert row["facility"] == w["facility"].code and row["severity"] == "high"
    assert row["status"] == "open" and row["escalation_level"] == 0
    assert row["acknowledged_by"] is None and row["resolution"] == ""
    assert row["opened_at"].endswith("-06:00")  # the facility's own zone
    other = Alert.objects.get(facility=w["other"])
    assert api_as(w["guard"]).get(f"/api/v1/alerts/{other.pk}/").status_code == 404
    assert (
        api_as(w["guard"]).get(f"/api/v1/alerts/?facility={w['other'].code}").json()["count"] == 0
    )
    assert api_as(w["guard"]).get("/api/v1/alerts/?status=sideways").status_code == 400


def test_a_supervisor_acknowledges_and_the_alert_stops_climbing_until_its_resolve_time(w, api_as):
    alert = _missed(w)
    with time_machine.travel(MISSED + timedelta(minutes=1), tick=False):
        response = api_as(w["sup"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "acknowledged"
    assert response.json()["acknowledged_by"] == w["sup"].username
    assert response.json()["acknowledged_level"] == 0
    alert.refresh_from_db()
    # High: thirty minutes to resolve it before it climbs past its owner.
    assert alert.resolve_by == MISSED + timedelta(minutes=31) == alert.next_escalation_at
    reconcile(w["facility"], MISSED + timedelta(minutes=30))
    alert.refresh_from_db()
    assert alert.escalation_level == 0
    assert _deliveries(alert) == [("opened", 0, "L0")]
    again = api_as(w["sup"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert again.status_code == 409 and w["sup"].username in again.json()["detail"]
    assert (
        LedgerEvent.objects.filter(action="alert.acknowledged", subject="inmate:GT-1").count() == 1
    )


def test_resolving_needs_a_written_reason_and_names_who(w, api_as):
    alert = _missed(w)
    client = api_as(w["sup"])
    for body in ({}, {"resolution": ""}, {"resolution": "   ok   "}):
        response = client.post(f"/api/v1/alerts/{alert.pk}/resolve/", body, format="json")
        assert response.status_code == 400, body
        assert "resolution" in response.json()["errors"]
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    reason = "Encontrado en la enfermería; el lector de la unidad A no funciona."
    response = client.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"resolution": reason})
    assert response.status_code == 200
    assert response.json()["resolved_by"] == w["sup"].username
    assert response.json()["resolution"] == reason
    assert (
        client.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"resolution": reason}).status_code
        == 409
    )
    event = LedgerEvent.objects.get(action="alert.resolved")
    assert event.actor == f"user:{w['sup'].username}" and event.data["resolution"] == reason
    # Whoever heard it opened hears it closed.
    assert ("resolved", 0, "L0") in _deliveries(alert)


def test_guards_auditors_and_other_facilities_cannot_act(w, api_as):
    alert = _missed(w)
    for user in (w["guard"], w["auditor"]):
        assert api_as(user).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert api_as(w["outsider"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 404


# --- The ladder (invariant 6) ----------------------------------------------


def test_an_unacknowledged_alert_climbs_the_ladder_and_notifies_each_rung(w):
    alert = _missed(w)
    assert alert.next_escalation_at == MISSED + timedelta(minutes=5)
    reconcile(w["facility"], MISSED + timedelta(minutes=4, seconds=59))
    alert.refresh_from_db()
    assert alert.escalation_level == 0
    reconcile(w["facility"], MISSED + timedelta(minutes=5))
    alert.refresh_from_db()
    assert alert.escalation_level == 1
    assert alert.next_escalation_at == MISSED + timedelta(minutes=15)
    reconcile(w["facility"], MISSED + timedelta(minutes=15))
    alert.refresh_from_db()
    # The top: nobody above the national authority, who hears again every 15 min.
    assert alert.escalation_level == 2
    assert alert.next_escalation_at == MISSED + timedelta(minutes=30)
    reconcile(w["facility"], MISSED + timedelta(hours=3))
    alert.refresh_from_db()
    assert alert.escalation_level == 2
    assert alert.next_escalation_at == MISSED + timedelta(hours=3, minutes=15)
    assert _deliveries(alert) == [
        ("escalated", 1, "L1"),
        ("escalated", 2, "L2"),
        ("opened", 0, "L0"),
        ("repeated", 2, "L2"),
    ]
    events = LedgerEvent.objects.filter(subject="inmate:GT-1", action__startswith="alert.")
    assert list(events.order_by("seq").values_list("action", flat=True)) == [
        "alert.opened",
        "alert.escalated",
        "alert.escalated",
        "alert.repeated",
    ]


def test_a_facility_sets_its_own_ladder(w):
    EscalationLevel.objects.create(
        facility=w["facility"], level=0, name="Jefe de turno", acknowledge_within_seconds=60
    )
    EscalationLevel.objects.create(facility=w["facility"], level=1, name="Director")
    alert = _missed(w)
    assert alert.next_escalation_at == MISSED + timedelta(seconds=60)
    reconcile(w["facility"], MISSED + timedelta(seconds=60))
    alert.refresh_from_db()
    assert alert.escalation_level == 1  # the top: told again after repeat_every (900 s)
    assert alert.next_escalation_at == MISSED + timedelta(seconds=960)


def test_channels_only_hear_the_severities_they_asked_for(w):
    NotificationChannel.objects.filter(level=0).update(min_severity="critical")
    alert = _missed(w)  # high
    assert _deliveries(alert) == []


# --- The record cannot be erased (database) --------------------------------


def test_the_database_keeps_alerts_it_refuses_deletes_and_rewrites(w):
    alert = _missed(w)
    # Raw, past the ORM's own PROTECT, as a shell or a bad migration would.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM alerts_alert WHERE id = %s", [alert.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(inmate=w["far"])
    alert_resolve(alert=alert, by=w["sup"], resolution="Recontado en persona, presente.")
    for change in ({"resolution": "nada pasó"}, {"status": "open"}):
        with pytest.raises(DatabaseError), transaction.atomic():
            Alert.objects.filter(pk=alert.pk).update(**change)
    with pytest.raises(DatabaseError), transaction.atomic():
        Notification.objects.all().delete()


def test_the_database_refuses_a_resolution_without_reason_or_author(w):
    alert = _missed(w)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(status="resolved", resolved_at=timezone.now())


def test_the_database_refuses_a_second_unresolved_alert_for_one_key(w):
    alert = _missed(w)

    def same_again():
        with pytest.raises(IntegrityError), transaction.atomic():
            Alert.objects.create(
                facility=alert.facility,
                kind=alert.kind,
                severity=alert.severity,
                dedup_key=alert.dedup_key,
                opened_at=timezone.now(),
            )

    same_again()
    alert_acknowledge(alert=alert, by=w["sup"])  # acknowledged is still unresolved
    same_again()


# --- The watcher watched (invariant 8) -------------------------------------


def test_a_stopped_reconciler_fails_healthz_opens_an_alert_and_the_gap_is_kept(w, client, settings):
    settings.RECONCILE_EVERY_SECONDS = 15
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        reconcile(w["facility"], now)
        reconcile(w["other"], now)
        assert client.get("/healthz").json()["reconciler"] == "ok"
    later = now + timedelta(seconds=31)
    with time_machine.travel(later, tick=False):
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["reconciler"] == "stale"
        assert "reconciler" in response.json()["failing"]
        client.get("/healthz")  # polled again: still one alert per facility
    stale = Alert.objects.filter(kind=AlertKind.RECONCILER_STALE)
    assert sorted(stale.values_list("facility_id", flat=True)) == sorted(
        [w["facility"].pk, w["other"].pk]
    )
    assert all(a.severity == "critical" for a in stale)
    resumed = later + timedelta(seconds=5)
    reconcile(w["facility"], resumed)
    alert = stale.get(facility=w["facility"])
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by_observation["gap_seconds"] == pytest.approx(36.0)
    assert ReconcilerState.objects.get(facility=w["facility"]).last_pass_at == resumed


# --- Declaring a person gone ------------------------------------------------


def test_resolving_as_missing_records_the_person_gone_until_a_return(w, api_as):
    from custody import services
    from custody.models import Inmate

    alert = _missed(w)
    reason = "No está en su celda ni en el sector; búsqueda en curso."
    with time_machine.travel(MISSED + timedelta(minutes=1), tick=False):
        response = api_as(w["sup"]).post(
            f"/api/v1/alerts/{alert.pk}/resolve/",
            {"resolution": reason, "declare": "missing"},
            format="json",
        )
    assert response.status_code == 200, response.content
    person = Inmate.objects.get(pk=w["inmate"].pk)
    assert person.status == "missing" and person.cell is not None
    event = LedgerEvent.objects.get(action="inmate.declared_missing")
    assert event.data["reason"] == reason and event.actor == f"user:{w['sup'].username}"
    # Off the schedule: no new missed check-in, however long; still unaccounted.
    reconcile(w["facility"], MISSED + timedelta(hours=5))
    assert Alert.objects.filter(kind=AlertKind.MISSED_CHECKIN).count() == 1
    counts = api_as(w["sup"]).get(f"/api/v1/facilities/{w['facility'].code}/headcount/").json()
    assert counts["unaccounted"] == 1 and counts["present"] == 0
    # Found: a return movement brings them back into custody and the schedule.
    with time_machine.travel(MISSED + timedelta(hours=6), tick=False):
        back = services.movement_request(
            inmate=person, kind="return", by=w["sup"], to_location=person.cell
        )
        services.movement_approve(movement=back, by=w["sup"])
        services.movement_arrive(movement=back, by=w["sup"])
    assert Inmate.objects.get(pk=person.pk).status == "in_custody"


def test_only_a_person_in_custody_behind_an_alert_can_be_declared_gone(w, api_as):
    alert = _missed(w)
    client = api_as(w["sup"])
    bad = client.post(
        f"/api/v1/alerts/{alert.pk}/resolve/",
        {"resolution": "Se fue por el muro norte.", "declare": "vanished"},
        format="json",
    )
    assert bad.status_code == 400 and "declare" in bad.json()["errors"]
    reader_alert = Alert.objects.create(
        facility=w["facility"],
        kind=AlertKind.DEVICE_OFFLINE,
        severity="medium",
        dedup_key="device_offline:device:test",
        opened_at=timezone.now(),
    )
    refused = client.post(
        f"/api/v1/alerts/{reader_alert.pk}/resolve/",
        {"resolution": "El lector fue robado del sector.", "declare": "escaped"},
        format="json",
    )
    assert refused.status_code == 400
    reader_alert.refresh_from_db()
    assert reader_alert.status == AlertStatus.OPEN  # nothing half done


def test_a_unit_supervisors_channel_hears_only_about_that_unit(w):
    from django.core.exceptions import ValidationError

    a_unit = w["inmate"].cell.parent
    with time_machine.travel(T0, tick=False):
        b_cell = factories.CellFactory(facility=w["facility"], code="B-01")
        factories.InmateFactory(
            facility=w["facility"], cell=b_cell, booking_number="GT-2", admitted_at=T0
        )
    NotificationChannel.objects.filter(facility=w["facility"]).delete()
    pager_a = NotificationChannel.objects.create(
        facility=w["facility"], name="Sector A", kind="email", target="a@fj2.gob.gt", unit=a_unit
    )
    reconcile(w["facility"], MISSED)
    heard = Notification.objects.filter(channel=pager_a)
    assert [n.alert.inmate.booking_number for n in heard] == ["GT-1"]
    # A unit of another facility, or a cell, is refused.
    with pytest.raises(ValidationError):
        NotificationChannel(
            facility=w["facility"], name="x", kind="email", target="x@x.gt", unit=b_cell
        ).full_clean()


@pytest.mark.django_db(transaction=True)
def test_with_every_worker_dead_the_web_process_sends_the_stale_alert(client, mailoutbox):
    """No pass for a minute and no worker to send anything: the first
    /healthz call records the stale reconciler and e-mails the ladder's
    first rung from the web process itself."""
    import threading

    with time_machine.travel(T0, tick=False):
        facility = factories.FacilityFactory()
    NotificationChannel.objects.create(
        facility=facility, level=0, name="Guardia", kind="email", target="jefe@fj2.gob.gt"
    )
    assert client.get("/healthz").status_code == 503
    for thread in threading.enumerate():
        if thread.name == "alert-delivery":
            thread.join(timeout=10)
    [message] = mailoutbox
    assert message.to == ["jefe@fj2.gob.gt"] and facility.code in message.subject
    delivery = Notification.objects.get()
    assert delivery.status == "sent" and delivery.alert.kind == AlertKind.RECONCILER_STALE
    client.get("/healthz")  # still stale: nothing opened or sent twice
    assert len(mailoutbox) == 1 and Alert.objects.count() == 1
