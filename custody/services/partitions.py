"""Monthly partitions of the check-in table (PostgreSQL only).

Partitions are made ahead of time so the DEFAULT partition stays empty: a
month can then be detached and archived on its own (docs/operations.md). The
database function runs with its owner's rights (migration 0015), so the
partitions belong to the owner role even when beat runs as the app role.
"""

from django.db import connection
from django.utils import timezone

MONTHS_AHEAD = 3


def checkin_partitions_ensure(*, months_ahead: int = MONTHS_AHEAD) -> int:
    """Creates any missing partitions from this month to ``months_ahead`` on;
    returns how many were created."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT public.custody_checkin_ensure_partitions(%s, 0, %s)",
            [timezone.now(), months_ahead],
        )
        return cursor.fetchone()[0]
