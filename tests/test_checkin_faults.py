"""Check-ins under real faults: the same batch from two connections at once,
overlapping batches in opposite orders, and Redis gone."""

import logging
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from custody.models import CheckIn, Inmate, LedgerEvent
from custody.services import ledger_verify
from tests import factories
from tests.concurrent import race, token_client

URL = "/api/v1/checkins/"


def scan(inmate, minutes_ago=1):
    return {
        "id": str(uuid.uuid4()),
        "inmate": inmate.booking_number,
        "location": inmate.cell.code,
        "method": "fingerprint",
        "observed_at": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat(),
    }


def post_together(key, bodies):
    """Each body posted from its own thread and connection at the same instant."""

    def poster(body):
        def post():
            response = token_client(device_key=key).post(URL, body, format="json")
            return response.status_code, response.json()

        return post

    return race([poster(body) for body in bodies])


@pytest.fixture
def people(transactional_db):
    facility = factories.FacilityFactory()
    cell = factories.CellFactory(facility=facility)
    people = [factories.InmateFactory(facility=facility, cell=cell) for _ in range(40)]
    _device, key = factories.device(facility)
    return facility, people, key


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_replayed_from_two_connections_is_stored_exactly_once(people):
    facility, inmates, key = people
    batch = [scan(p, minutes_ago=i % 50) for i, p in enumerate(inmates * 5)]

    for _round in range(3):
        answers = post_together(key, [batch, batch])
        assert [status for status, _ in answers] == [200, 200]

    assert CheckIn.objects.count() == len(batch)
    accepted = sum(body["accepted"] for _, body in answers)
    assert accepted == 0  # everything was stored by the first round
    statuses = {r["status"] for _, body in answers for r in body["results"]}
    assert statuses == {"duplicate"}
    assert ledger_verify(facility=facility).ok


@pytest.mark.django_db(transaction=True)
def test_a_first_concurrent_replay_splits_the_batch_between_the_two_posts(people):
    facility, inmates, key = people
    batch = [scan(p) for p in inmates]

    answers = post_together(key, [batch, batch])

    accepted = [body["accepted"] for _, body in answers]
    assert sum(accepted) == len(batch)  # each item accepted by exactly one post
    for index in range(len(batch)):
        statuses = sorted(body["results"][index]["status"] for _, body in answers)
        assert statuses == ["accepted", "duplicate"]
    assert CheckIn.objects.count() == len(batch)
    summaries = LedgerEvent.objects.filter(facility=facility, action="checkins.received")
    assert sum(e.data["accepted"] for e in summaries) == len(batch)
    assert ledger_verify(facility=facility).ok


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_in_opposite_orders_do_not_deadlock(people):
    facility, inmates, key = people
    forward = [scan(p) for p in inmates]
    backward = [scan(p, minutes_ago=2) for p in reversed(inmates)]
    third = [scan(p, minutes_ago=3) for p in inmates[::2]]

    answers = post_together(key, [forward, backward, third])

    assert [status for status, _ in answers] == [200, 200, 200]
    assert CheckIn.objects.count() == len(forward) + len(backward) + len(third)
    latest = {p.pk: timezone.now() for p in inmates}
    for inmate in Inmate.objects.filter(pk__in=latest):
        assert inmate.last_seen_at is not None
        assert timezone.now() - inmate.last_seen_at < timedelta(minutes=2)
    assert ledger_verify(facility=facility).ok


DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.django_db
def test_with_redis_down_check_ins_are_still_stored_and_answered(facility, api_as):
    """Redis carries jobs, never the only copy of a fact (docs/architecture.md): with the cache
    and the broker pointing at a port where nothing listens, ingestion still
    stores and answers 200."""
    import redis

    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(DEAD_REDIS, socket_connect_timeout=1).ping()
    inmate = factories.InmateFactory(facility=facility)
    _device, key = factories.device(facility)
    dead_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
        }
    }
    with override_settings(CACHES=dead_cache, CELERY_BROKER_URL=DEAD_REDIS):
        response = api_as(device_key=key).post(URL, [scan(inmate)], format="json")

    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert CheckIn.objects.filter(inmate=inmate).exists()


def _post_while_another_writer_deadlocks(key, first, second):
    """Another writer holds ``second``'s row, waits until the batch holds
    ``first``'s and waits for ``second``, then reaches for ``first``: a cycle
    PostgreSQL breaks by aborting the batch (the first to wait). Returns the
    answer and the warnings logged."""
    import psycopg

    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    )
    holding = threading.Event()

    def other_writer():
        lock = "SELECT id FROM custody_inmate WHERE id = %s FOR NO KEY UPDATE"
        other.execute(lock, [second.pk])
        holding.set()
        time.sleep(0.5)  # the batch now holds ``first`` and waits for ``second``
        other.execute(lock, [first.pk])
        other.commit()

    thread = threading.Thread(target=other_writer)
    thread.start()
    holding.wait(timeout=10)
    warnings = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = warnings.append
    logger = logging.getLogger("custody.services.checkins")
    logger.addHandler(handler)
    try:
        response = token_client(device_key=key).post(
            URL, [scan(first), scan(second)], format="json"
        )
    finally:
        logger.removeHandler(handler)
        thread.join(timeout=30)
        other.close()
    return response, [w.getMessage() for w in warnings]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_loses_a_deadlock_is_retried_and_stored_once(people):
    facility, inmates, key = people
    first, second = sorted(inmates[:2], key=lambda i: i.pk)

    response, warnings = _post_while_another_writer_deadlocks(key, first, second)

    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2
    assert any("deadlocked, retrying" in w for w in warnings)
    assert CheckIn.objects.count() == 2
    assert ledger_verify(facility=facility).ok


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_lost_on_every_attempt_answers_503_and_stores_nothing(people, monkeypatch):
    from custody.services import checkins

    monkeypatch.setattr(checkins, "DEADLOCK_RETRIES", 1)
    _facility, inmates, key = people
    first, second = sorted(inmates[:2], key=lambda i: i.pk)

    response, _warnings = _post_while_another_writer_deadlocks(key, first, second)

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "detail" in response.json()
    assert not CheckIn.objects.exists()
