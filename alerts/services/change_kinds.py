"""What weakens how alerts are raised, climb and reach people
(``custody.services.changes``; registered from ``AlertsConfig.ready``).

- ``alert_policy``: a longer reader silence or return/arrival grace, or a
  shorter walk between units (fewer sightings count as impossible travel).
- ``notification_channel``: switched off, a higher lowest severity, a later
  rung, narrowed to one unit, moved to another facility, or fewer purposes
  (alerts, witness).
- ``escalation_ladder``: fewer rungs, or any rung's limit longer (a limit
  given where there was none, or taken away, counts as longer: the default it
  meets is not this module's to compare).
"""

from django.db import transaction
from django.utils import timezone

from alerts.models import (
    SEVERITY_RANK,
    AlertPolicy,
    ChannelPurpose,
    EscalationLevel,
    NotificationChannel,
)
from alerts.services.policy import alert_policy, escalation_ladder
from alerts.services.settings_record import SECRET_FIELDS, alert_setting_save
from custody.models import Facility
from custody.services.change_kinds import longer, shorter
from custody.services.changes import ChangeKind, change_kind_register
from custody.services.ledger import ledger_append

POLICY_FIELDS = (
    "device_offline_after_seconds",
    "travel_between_units_seconds",
    "round_seconds_per_cell",
    "movement_grace_seconds",
)
RUNG_LIMITS = ("acknowledge_within_seconds", "resolve_within_seconds", "repeat_every_seconds")
PURPOSES = {
    ChannelPurpose.ALERTS: {"alerts"},
    ChannelPurpose.WITNESS: {"witness"},
    ChannelPurpose.BOTH: {"alerts", "witness"},
}


# --- Limits ----------------------------------------------------------------------


def _policy_values(facility: Facility, names) -> dict:
    policy = alert_policy(facility)
    return {name: getattr(policy, name) for name in names}


def policy_weakens(*, target: Facility, before: dict, after: dict) -> list[str]:
    weakened = [
        name
        for name in ("device_offline_after_seconds", "movement_grace_seconds")
        if name in after and longer(before[name], after[name])
    ]
    # A shorter walk or a shorter time per cell lets faster (made-up) rounds
    # and sightings pass as plausible.
    weakened += [
        name
        for name in ("travel_between_units_seconds", "round_seconds_per_cell")
        if name in after and shorter(before[name], after[name])
    ]
    return weakened


def _policy_apply(*, target: Facility, fields: dict, by):
    policy = alert_policy(target)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean(exclude=["facility"])
    return alert_setting_save(setting=policy, by=by)


# --- Channels --------------------------------------------------------------------


def channel_weakens(*, target: NotificationChannel, before: dict, after: dict) -> list[str]:
    weakened = []
    if target.is_active and "is_active" in after and after["is_active"] is not True:
        weakened.append("is_active")
    if "min_severity" in after and SEVERITY_RANK.get(after["min_severity"], -1) < SEVERITY_RANK.get(
        before["min_severity"], -1
    ):
        weakened.append("min_severity")
    if "level" in after and longer(before["level"], after["level"]):
        weakened.append("level")
    if "unit" in after and after["unit"] is not None:
        weakened.append("unit")
    if "facility" in after:  # it stops hearing this facility's alerts
        weakened.append("facility")
    if "purpose" in after and not PURPOSES.get(before["purpose"], set()) <= PURPOSES.get(
        after["purpose"], set()
    ):
        weakened.append("purpose")
    return weakened


def _channel_apply(*, target: NotificationChannel, fields: dict, by):
    for name, value in fields.items():
        setattr(target, name, value)
    target.full_clean(exclude=["facility"])
    return alert_setting_save(setting=target, by=by)


# --- The ladder ------------------------------------------------------------------


def ladder_levels(facility: Facility) -> list[dict]:
    """The facility's rungs as the API shows them (its defaults when it has none)."""
    rows = list(EscalationLevel.objects.filter(facility=facility).order_by("level"))
    if rows:
        return [
            {
                "level": row.level,
                "name": row.name,
                "acknowledge_within_seconds": row.acknowledge_within_seconds,
                "resolve_within_seconds": row.resolve_within_seconds,
                "repeat_every_seconds": row.repeat_every_seconds,
            }
            for row in rows
        ]
    repeat = EscalationLevel._meta.get_field("repeat_every_seconds").default
    return [
        {
            "level": rung.level,
            "name": str(rung.name),
            "acknowledge_within_seconds": int(rung.acknowledge_within.total_seconds())
            if rung.acknowledge_within
            else None,
            "resolve_within_seconds": None,
            "repeat_every_seconds": repeat,
        }
        for rung in escalation_ladder(facility)
    ]


def _limit_longer(before, after, *, top: bool, name: str) -> bool:
    if name == "acknowledge_within_seconds" and top:
        return False  # the top rung never climbs: its acknowledge time is unused
    if before is None and after is None:
        return False
    if before is None or after is None:
        return True
    return longer(before, after)


def ladder_weakens(*, target: Facility, before: dict, after: dict) -> list[str]:
    if "levels" not in after:
        return []
    old, new = before["levels"], after["levels"]
    if len(new) < len(old):
        return ["levels"]
    for index, (was, now) in enumerate(zip(old, new, strict=False)):
        # The old top rung gets a new acknowledge time when rungs are added: that
        # adds a climb, it does not slow one.
        top = index == len(old) - 1
        for name in RUNG_LIMITS:
            if _limit_longer(was.get(name), now.get(name), top=top, name=name):
                return ["levels"]
    return []


@transaction.atomic
def ladder_replace(*, facility: Facility, levels: list[dict], by) -> Facility:
    """Replaces the facility's rungs with ``levels`` (contiguous from 0,
    checked by the API) and records before and after in its ledger."""
    Facility.objects.select_for_update().get(pk=facility.pk)
    before = ladder_levels(facility)
    keep = set()
    for rung in levels:
        EscalationLevel.objects.update_or_create(
            facility=facility,
            level=rung["level"],
            defaults={name: rung.get(name) for name in ("name", *RUNG_LIMITS)},
        )
        keep.add(rung["level"])
    EscalationLevel.objects.filter(facility=facility).exclude(level__in=keep).delete()
    ledger_append(
        facility=facility,
        actor=by,
        action="escalation_ladder.replaced",
        subject=f"escalation_ladder:{facility.code}",
        data={"before": before, "after": ladder_levels(facility)},
        at=timezone.now(),
    )
    return facility


def _ladder_apply(*, target: Facility, fields: dict, by):
    return ladder_replace(facility=target, levels=fields["levels"], by=by)


def _facility_code(facility: Facility) -> str:
    return facility.code


def register() -> None:
    for kind in (
        ChangeKind(
            "alert_policy",
            AlertPolicy,
            policy_weakens,
            _policy_apply,
            facility_of=lambda facility: facility,
            label=_facility_code,
            load=lambda pk: Facility.objects.select_for_update().get(pk=pk),
            current=_policy_values,
            decode=dict,
        ),
        ChangeKind(
            "notification_channel",
            NotificationChannel,
            channel_weakens,
            _channel_apply,
            secret_fields=frozenset(SECRET_FIELDS),
        ),
        ChangeKind(
            "escalation_ladder",
            EscalationLevel,
            ladder_weakens,
            _ladder_apply,
            facility_of=lambda facility: facility,
            label=_facility_code,
            load=lambda pk: Facility.objects.select_for_update().get(pk=pk),
            current=lambda facility, names: {"levels": ladder_levels(facility)},
            decode=dict,
        ),
    ):
        change_kind_register(kind)
