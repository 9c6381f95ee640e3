"""Helpers for tests that race real threads, each on its own database connection."""

import threading

from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient


def race(calls):
    """Run the calls at the same moment, each in its own thread and connection;
    returns their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def token_client(user=None, *, device_key=None):
    """An API client signed in as ``user`` (a fresh token) or with a device key."""
    client = APIClient()
    key = device_key or AuthToken.objects.create(user=user)[1]
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
