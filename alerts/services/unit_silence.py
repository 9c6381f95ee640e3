"""The alerts a silenced unit causes point at the unit's ``unit_silent``
alert (``details.unit_silent_alert``), so the supervisor reads one alarm and
its consequences, not N readers offline and a flood of missed check-ins."""

from alerts.models import Alert, AlertKind

LINKED_KINDS = (AlertKind.DEVICE_OFFLINE, AlertKind.MISSED_CHECKIN)


def link_to_unit_silence(*, context, alerts: list[Alert]) -> list[Alert]:
    """Links each unresolved reader or person alert of a unit with an
    unresolved ``unit_silent`` alert (those opening with it, after it, and
    already open when it opened) to that alert, in one statement; returns
    the alerts linked now. A link, once made, stays: the record of why."""
    silences = {a.location_id: a for a in alerts if a.kind == AlertKind.UNIT_SILENT}
    if not silences:
        return []
    linked = []
    for alert in alerts:
        details = alert.details or {}
        if alert.kind not in LINKED_KINDS or not alert.location_id:
            continue
        if "unit_silent_alert" in details:
            continue
        silence = silences.get(context.zone_of(alert.location_id))
        if silence is not None:
            alert.details = {**details, "unit_silent_alert": silence.pk}
            linked.append(alert)
    Alert.objects.bulk_update(linked, ["details"], batch_size=500)
    return linked
