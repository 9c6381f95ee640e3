"""Helpers for alert tests: scans through the real API, passes at chosen times."""

import uuid
from datetime import datetime

import time_machine
from rest_framework.test import APIClient

from alerts.services import reconcile_facility


def scan(device_key: str, inmate, location, at: datetime, method: str = "fingerprint") -> dict:
    """One check-in posted by a reader at ``at`` (its clock and the server's)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {device_key}")
    with time_machine.travel(at, tick=False):
        response = client.post(
            "/api/v1/checkins/",
            {
                "id": str(uuid.uuid4()),
                "inmate": inmate.booking_number,
                "location": location.code,
                "method": method,
                "observed_at": at.isoformat(),
            },
            format="json",
        )
    assert response.status_code in (200, 201, 207), response.content
    return response.json()


def reconcile(facility, at: datetime):
    """One pass at ``at``, with the clock there too (services read it)."""
    with time_machine.travel(at, tick=False):
        return reconcile_facility(facility=facility, now=at)
