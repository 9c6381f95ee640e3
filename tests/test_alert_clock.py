"""An owned alert still has a clock (invariant 6): acknowledged and not
resolved in time, it climbs past its owner and names them; at the top rung
it is told again until someone acknowledges it, and again while its owner
sits on it. And nobody closes the alarm about their own work."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from alerts.models import (
    UNRESOLVED,
    Alert,
    AlertKind,
    AlertStatus,
    EscalationLevel,
    Notification,
    NotificationChannel,
)
from alerts.services import alert_acknowledge, alert_resolve, deliver_due
from custody import services
from custody.models import LedgerEvent
from tests import factories
from tests.alerting import reconcile
from tests.concurrent import race

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)
MISSED = T0 + timedelta(minutes=66)  # admission + 60 min + 5 min grace, plus one
OWNED = MISSED + timedelta(minutes=2)
RESOLVE_BY = OWNED + timedelta(minutes=30)  # high: 30 minutes by default
LEVELS = range(3)


def _world(facility, make_user):
    with time_machine.travel(T0, tick=False):
        cell = factories.CellFactory(facility=facility, code="A-01")
        inmate = factories.InmateFactory(
            facility=facility, cell=cell, booking_number="GT-1", admitted_at=T0
        )
    for level in LEVELS:
        NotificationChannel.objects.create(
            facility=facility,
            level=level,
            name=f"L{level}",
            kind="email",
            target=f"nivel{level}@fj2.gob.gt",
        )
    return {
        "facility": facility,
        "cell": cell,
        "inmate": inmate,
        "sitter": make_user("supervisor", facility, username="sentado"),
        "other": make_user("supervisor", facility, username="honesta"),
    }


@pytest.fixture
def w(facility, make_user):
    return _world(facility, make_user)


def _missed(w) -> Alert:
    reconcile(w["facility"], MISSED)
    return Alert.objects.get(kind=AlertKind.MISSED_CHECKIN, inmate=w["inmate"])


def _owned(w) -> Alert:
    alert = _missed(w)
    with time_machine.travel(OWNED, tick=False):
        return alert_acknowledge(alert=alert, by=w["sitter"])


def _deliveries(alert, *events):
    rows = Notification.objects.filter(alert=alert)
    if events:
        rows = rows.filter(event__in=events)
    return sorted(rows.values_list("event", "level", "round", "channel__name"))


# --- Acknowledged, not resolved in time ---------------------------------------


def test_an_owned_alert_not_resolved_in_time_climbs_and_tells_the_owner_and_the_next_rung(
    w, mailoutbox
):
    alert = _owned(w)
    assert (alert.acknowledged_level, alert.resolve_by) == (0, RESOLVE_BY)
    assert alert.next_escalation_at == RESOLVE_BY

    reconcile(w["facility"], RESOLVE_BY - timedelta(seconds=1))
    alert.refresh_from_db()
    assert alert.escalation_level == 0 and _deliveries(alert, "overdue") == []

    reconcile(w["facility"], RESOLVE_BY)
    alert.refresh_from_db()
    assert alert.escalation_level == 1
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == w["sitter"]
    # The director now has their own thirty minutes.
    assert alert.resolve_by == alert.next_escalation_at == RESOLVE_BY + timedelta(minutes=30)
    assert _deliveries(alert, "overdue") == [("overdue", 1, 0, "L0"), ("overdue", 1, 0, "L1")]

    with time_machine.travel(RESOLVE_BY, tick=False):
        deliver_due(now=RESOLVE_BY)
    overdue = [m for m in mailoutbox if "nivel1" in m.to[0] or "nivel0" in m.to[0]]
    overdue = [m for m in overdue if "sentado" in m.body]
    assert sorted(m.to[0] for m in overdue) == ["nivel0@fj2.gob.gt", "nivel1@fj2.gob.gt"]
    local = timezone.localtime(OWNED, w["facility"].tzinfo).strftime("%H:%M:%S")
    assert all(local in m.body for m in overdue)  # when it was taken, in the facility's time
    event = LedgerEvent.objects.filter(action="alert.escalated").latest("seq")
    assert event.data["acknowledged_by"] == "sentado" and event.data["not_resolved"] is True


def test_the_message_says_who_sits_on_it_in_spanish_and_english(w, settings):
    from alerts.services.notify import step_message

    _owned(w)
    reconcile(w["facility"], RESOLVE_BY)
    row = Notification.objects.filter(event="overdue").first()
    settings.LANGUAGE_CODE = "es"
    assert step_message(row).startswith("Asumida por sentado el ")
    assert step_message(row).endswith(", sin resolver.")
    settings.LANGUAGE_CODE = "en"
    assert step_message(row).startswith("Acknowledged by sentado at ")


def test_at_the_top_it_is_told_again_until_acknowledged_and_again_after_its_resolve_time(w):
    alert = _missed(w)
    reconcile(w["facility"], MISSED + timedelta(minutes=5))
    reconcile(w["facility"], MISSED + timedelta(minutes=15))
    alert.refresh_from_db()
    assert alert.escalation_level == 2
    top = MISSED + timedelta(minutes=15)
    for n in (1, 2):  # nobody owns it: the national authority hears every 15 minutes
        reconcile(w["facility"], top + timedelta(minutes=15 * n) - timedelta(seconds=1))
        assert len(_deliveries(alert, "repeated")) == n - 1
        reconcile(w["facility"], top + timedelta(minutes=15 * n))
        assert _deliveries(alert, "repeated")[-1] == ("repeated", 2, n, "L2")

    owned_at = top + timedelta(minutes=31)
    with time_machine.travel(owned_at, tick=False):
        alert = alert_acknowledge(alert=alert, by=w["sitter"])
    assert alert.acknowledged_level == 2
    assert alert.next_escalation_at == owned_at + timedelta(minutes=30)
    reconcile(w["facility"], owned_at + timedelta(minutes=29))
    assert len(_deliveries(alert, "repeated", "overdue")) == 2  # quiet while in time

    # Not resolved in time: told again then, and every 15 minutes while it sits.
    for n, minutes in enumerate((30, 45, 60), start=3):
        reconcile(w["facility"], owned_at + timedelta(minutes=minutes))
        assert _deliveries(alert, "overdue")[-1] == ("overdue", 2, n, "L2")
    assert len(_deliveries(alert, "overdue")) == 3  # the owner's rung is the top: once each

    with time_machine.travel(owned_at + timedelta(minutes=61), tick=False):
        alert_resolve(alert=alert, by=w["sitter"], resolution="Se fugó; aviso a la PNC enviado.")
    reconcile(w["facility"], owned_at + timedelta(hours=3))
    assert len(_deliveries(alert, "overdue")) == 3  # resolved: the clock stopped
    assert LedgerEvent.objects.filter(action="alert.repeated").count() == 5


def test_a_rung_sets_its_own_resolve_and_repeat_times(w):
    facility = w["facility"]
    EscalationLevel.objects.create(
        facility=facility,
        level=0,
        name="Jefe",
        acknowledge_within_seconds=60,
        resolve_within_seconds=120,
    )
    EscalationLevel.objects.create(
        facility=facility, level=1, name="Director", repeat_every_seconds=30
    )
    alert = _owned(w)
    assert alert.resolve_by == OWNED + timedelta(seconds=120)
    reconcile(facility, OWNED + timedelta(seconds=120))
    alert.refresh_from_db()
    assert alert.escalation_level == 1
    # The top rung says no resolve time: the severity's (high: 30 minutes).
    assert alert.resolve_by == OWNED + timedelta(seconds=120 + 1800)
    reconcile(facility, alert.resolve_by)
    alert.refresh_from_db()
    assert alert.next_escalation_at == alert.resolve_by + timedelta(seconds=30)
    assert _deliveries(alert, "overdue")[-2:] == [("overdue", 1, 1, "L0"), ("overdue", 1, 1, "L1")]


def test_a_medium_alert_gets_four_hours_by_default(w):
    from alerts.services.policy import DEFAULT_LADDER

    assert DEFAULT_LADDER[0].resolve_window("medium") == timedelta(hours=4)
    assert DEFAULT_LADDER[0].resolve_window("low") == timedelta(hours=4)
    assert DEFAULT_LADDER[0].resolve_window("critical") == timedelta(minutes=30)
    alert = factories.AlertFactory(
        facility=w["facility"], kind=AlertKind.DEVICE_OFFLINE, severity="medium"
    )
    with time_machine.travel(OWNED, tick=False):
        alert = alert_acknowledge(alert=alert, by=w["other"])
    assert alert.resolve_by == OWNED + timedelta(hours=4)


def test_each_limit_is_ten_seconds_or_more(w):
    from django.core.exceptions import ValidationError

    for field in ("acknowledge_within_seconds", "resolve_within_seconds", "repeat_every_seconds"):
        rung = EscalationLevel(facility=w["facility"], level=0, name="x", **{field: 9})
        with pytest.raises(ValidationError) as raised:
            rung.full_clean()
        assert field in raised.value.message_dict
        setattr(rung, field, 10)
        rung.full_clean()


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_send_each_overdue_message_once(facility, make_user):
    w = _world(facility, make_user)
    _owned(w)
    for _ in range(3):
        results = race(
            [
                lambda: reconcile(w["facility"], RESOLVE_BY),
                lambda: reconcile(w["facility"], RESOLVE_BY),
            ]
        )
        assert sum(not r.skipped and bool(r.escalated) for r in results) <= 1
    alert = Alert.objects.get()
    assert alert.escalation_level == 1
    assert _deliveries(alert, "overdue") == [("overdue", 1, 0, "L0"), ("overdue", 1, 0, "L1")]
    assert LedgerEvent.objects.filter(action="alert.escalated").count() == 1


def test_the_pass_reads_acknowledged_deadlines_through_the_partial_index(w):
    """The pass locks its facility's unresolved alerts (open and acknowledged,
    both on a clock now) through ``alert_unresolved``, never the history."""
    alert = _owned(w)
    done = [
        Alert(
            facility=w["facility"],
            kind=AlertKind.MISSED_CHECKIN,
            severity="high",
            severity_rank=1,
            dedup_key=f"old:{uuid.uuid4()}",
            opened_at=T0,
            status=AlertStatus.RESOLVED,
            resolved_at=T0,
            resolved_by=w["other"],
            resolution="Visto en la enfermería, lector roto.",
        )
        for _ in range(300)
    ]
    Alert.objects.bulk_create(done)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE alerts_alert")
        cursor.execute("SET enable_seqscan = off")
        plan = Alert.objects.filter(facility=w["facility"], status__in=UNRESOLVED).explain()
        cursor.execute("RESET enable_seqscan")
    partial = {"alert_unresolved", "one_unresolved_alert_per_key"}
    assert any(name in plan for name in partial) and "Seq Scan" not in plan, plan
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [list(partial)]
        )
        definitions = dict(cursor.fetchall())
    # Both partial indexes cover acknowledged alerts, which now have a deadline too.
    assert set(definitions) == partial
    assert all("'acknowledged'" in d and "'open'" in d for d in definitions.values()), definitions
    assert (
        Alert.objects.filter(status__in=UNRESOLVED, next_escalation_at__isnull=False).get() == alert
    )


# --- Nobody closes the alarm about their own work -------------------------------


def _refused(client, alert, reason_word):
    for action, body in (("acknowledge", None), ("resolve", {"resolution": "Todo en orden aquí."})):
        response = client.post(f"/api/v1/alerts/{alert.pk}/{action}/", body, format="json")
        assert response.status_code == 403, (action, response.content)
        assert reason_word in response.json()["detail"]


def test_the_officer_whose_visual_check_was_the_last_sighting_cannot_close_the_alert(w, api_as):
    seen = T0 + timedelta(minutes=30)
    with time_machine.travel(seen, tick=False):
        response = api_as(w["sitter"]).post(
            "/api/v1/checkins/",
            {
                "id": str(uuid.uuid4()),
                "inmate": "GT-1",
                "location": "A-01",
                "method": "visual",
                "observed_at": seen.isoformat(),
            },
            format="json",
        )
    assert response.json()["accepted"] == 1, response.content
    reconcile(w["facility"], seen + timedelta(minutes=66))
    alert = Alert.objects.get(kind=AlertKind.MISSED_CHECKIN)
    with time_machine.travel(seen + timedelta(minutes=67), tick=False):
        _refused(api_as(w["sitter"]), alert, "registro de presencia")
        assert api_as(w["other"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 200


def test_the_officers_of_a_movement_cannot_close_its_overdue_alert(w, api_as, make_user):
    approver = make_user("supervisor", w["facility"], username="aprobo")
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        movement = services.movement_request(
            inmate=w["inmate"],
            kind="court",
            by=w["sitter"],
            destination="Juzgado 3",
            expected_back_at=T0 + timedelta(hours=2),
        )
        services.movement_approve(movement=movement, by=approver)
        services.movement_depart(movement=movement, by=approver)
    reconcile(w["facility"], T0 + timedelta(hours=2, minutes=6))
    alert = Alert.objects.get(kind=AlertKind.OVERDUE_RETURN)
    for officer in (w["sitter"], approver):
        _refused(api_as(officer), alert, "movimiento")
    with time_machine.travel(T0 + timedelta(hours=2, minutes=7), tick=False):
        assert api_as(w["other"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 200


def test_whoever_started_submitted_or_marked_a_count_cannot_close_its_discrepancy(
    w, api_as, make_user
):
    from custody.services import rollcalls
    from tests.rollcall_world import entry

    guard = make_user("guard", w["facility"])
    unit = w["cell"].parent
    at = T0 + timedelta(minutes=20)
    with time_machine.travel(at, tick=False):
        rollcall, _ = rollcalls.rollcall_start(
            location=unit, kind="informal", by=w["sitter"], now=at
        )
        rollcalls.rollcall_record_entries(
            rollcall=rollcall, raw_entries=[entry("GT-1", "absent", at=at)], by=guard, now=at
        )
        rollcalls.rollcall_submit(rollcall=rollcall, by=w["sitter"], now=at)
    reconcile(w["facility"], at + timedelta(seconds=15))
    alert = Alert.objects.get(kind=AlertKind.COUNT_DISCREPANCY)
    with time_machine.travel(at + timedelta(minutes=1), tick=False):
        _refused(api_as(w["sitter"]), alert, "conteo")
        with pytest.raises(Exception) as raised:
            alert_acknowledge(alert=alert, by=guard)  # a guard never acts on alerts anyway
        assert "supervisor" in str(raised.value)
        assert api_as(w["other"]).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 200


def test_the_dashboard_shows_why_the_buttons_are_off_and_in_spanish(w, client):
    seen = T0 + timedelta(minutes=30)
    factories.CheckInFactory(
        facility=w["facility"],
        inmate=w["inmate"],
        location=w["cell"],
        observed_at=seen,
        method="visual",
        score=None,
        recorded_by=w["sitter"],
    )
    type(w["inmate"]).objects.filter(pk=w["inmate"].pk).update(
        last_seen_at=seen, next_due_at=seen + timedelta(minutes=60)
    )
    reconcile(w["facility"], seen + timedelta(minutes=66))
    alert = Alert.objects.get(kind=AlertKind.MISSED_CHECKIN)
    client.force_login(w["sitter"])
    page = client.get(
        f"/dashboard/{w['facility'].code}/", HTTP_ACCEPT_LANGUAGE="es"
    ).content.decode()
    assert f'id="own-work-{alert.pk}"' in page and "Usted hizo el registro de presencia" in page
    assert f"/dashboard/alerts/{alert.pk}/acknowledge/" not in page
    client.force_login(w["other"])
    page = client.get(f"/dashboard/{w['facility'].code}/").content.decode()
    assert f'id="own-work-{alert.pk}"' not in page
    refused = client.post(f"/dashboard/alerts/{alert.pk}/acknowledge/")
    assert refused.status_code in (200, 302)  # the other supervisor may


def test_alerts_unresolved_before_the_clock_existed_get_one(w):
    """Migration 0009: an alert owned (or stuck at the top) before this
    release had no deadline; it gets one, so it is not sat on forever."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("alerts.migrations.0009_start_the_clock_of_owned_alerts")
    owned = _owned(w)
    Alert.objects.filter(pk=owned.pk).update(
        next_escalation_at=None, resolve_by=None, acknowledged_level=None
    )
    stuck = factories.AlertFactory(facility=w["facility"], opened_at=T0, escalation_level=2)
    Alert.objects.filter(pk=stuck.pk).update(next_escalation_at=None)

    migration.start_clocks(apps, None)

    owned.refresh_from_db()
    stuck.refresh_from_db()
    assert owned.acknowledged_level == 0
    assert owned.resolve_by == owned.next_escalation_at == OWNED + timedelta(minutes=30)
    assert stuck.next_escalation_at == T0  # due at once: the top rung hears again
