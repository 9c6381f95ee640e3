"""``/healthz``: is the database up, is the broker up, is the reconciler alive?

No authentication: load balancers and outside monitors call it. It reveals
states, never data.
"""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from alerts.services import reconciler_health, stale_alerts_open
from alerts.services.notify import deliver_in_background
from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def check_broker() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return True
    except Exception:
        return False


def reconciler_state() -> tuple[str, str | None]:
    """The reconciler's own heartbeat (invariant 8): "stale" when any
    facility's last pass is older than twice the period. A stale reconciler
    also opens ``reconciler_stale`` alerts from here, so the gap is recorded
    even when every worker is dead."""
    health = reconciler_health()
    if not health.ok:
        try:
            opened = stale_alerts_open()
            if opened:  # no worker may be alive to send them: send from here
                deliver_in_background([alert.pk for alert in opened])
        except Exception:  # health must answer even if recording fails
            logger.exception("could not record the stale reconciler")
    last = health.last_reconciled_at.isoformat() if health.last_reconciled_at else None
    return health.state, last


@never_cache
@require_GET
def healthz(request):
    db_ok = check_database()
    broker_ok = check_broker()
    reconciler, last_reconciled_at = reconciler_state() if db_ok else ("unknown", None)
    body = {
        "db": "ok" if db_ok else "unreachable",
        "broker": "ok" if broker_ok else "unreachable",
        "reconciler": reconciler,
        "last_reconciled_at": last_reconciled_at,
    }
    healthy = db_ok and broker_ok and reconciler != "stale"
    if not healthy:
        body["failing"] = [
            part for part in ("db", "broker", "reconciler") if body[part] not in ("ok", "unknown")
        ]
    return JsonResponse(body, status=200 if healthy else 503)
