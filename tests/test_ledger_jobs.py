"""Heavy ledger reads never tie up the web: the API's verification runs once
per facility at a time (a second request shares the first one's result) and is
throttled per person; the page's jobs go through the broker and a lost one is
enqueued again."""

import json
import threading
import time
from datetime import timedelta

import pytest
import redis
import yaml
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.utils import timezone

from custody.models import LedgerJob
from custody.services import ledger_jobs
from tests import factories
from tests.test_ledger import append


def poll(condition, timeout=30.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def verification_waiters(facility) -> int:
    """Sessions of this database waiting for the facility's verification lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = %s AND objid = %s AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [ledger_jobs.VERIFY_LOCK_SPACE, facility.pk],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_verifications_of_one_facility_at_once_share_one_run(api_as, monkeypatch):
    facility = factories.FacilityFactory()
    auditors = [factories.UserFactory(role="auditor", facilities=[facility]) for _ in range(2)]
    append(facility, 3)
    clients = [api_as(user) for user in auditors]
    runs, release = [], threading.Event()
    real = ledger_jobs.ledger_verify_witnessed

    def slow_verification(**kwargs):
        runs.append(kwargs["facility"].code)
        assert release.wait(timeout=30)
        return real(**kwargs)

    monkeypatch.setattr(ledger_jobs, "ledger_verify_witnessed", slow_verification)
    answers, errors = {}, []

    def ask(index):
        try:
            response = clients[index].get(f"/api/v1/ledger/verify/?facility={facility.code}")
            answers[index] = (response.status_code, response.json())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    assert poll(lambda: len(runs) == 1)
    second = threading.Thread(target=ask, args=(1,))
    second.start()
    assert poll(lambda: verification_waiters(facility) == 1)  # the second waits on the first
    release.set()
    for thread in (first, second):
        thread.join(timeout=60)

    assert not errors
    assert runs == [facility.code]  # one run for both
    assert answers[0] == answers[1]
    assert answers[0][0] == 200 and answers[0][1]["ok"] is True
    assert answers[0][1]["events"] == 5  # the two auditors' user.created, then 3


@pytest.mark.django_db
def test_verifications_are_throttled_per_person_with_a_documented_429(
    facility, make_user, api_as, settings
):
    settings.LEDGER_VERIFY_THROTTLE_RATE = "2/hour"
    one, other = make_user("auditor", facility), make_user("auditor", facility)
    for user in (one, other):  # the throttle's history lives in the shared cache
        cache.delete(f"throttle_ledger_verify_{user.pk}")
    client = api_as(one)
    url = f"/api/v1/ledger/verify/?facility={facility.code}"
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    refused = client.get(url)
    assert refused.status_code == 429
    assert "detail" in refused.json()
    assert int(refused["Retry-After"]) > 0
    assert api_as(other).get(url).status_code == 200  # per person, not per address

    schema = yaml.safe_load(client.get("/api/schema/").content)
    responses = schema["paths"]["/api/v1/ledger/verify/"]["get"]["responses"]
    assert "429" in responses
    assert "witnessed_seq" in json.dumps(schema["components"]["schemas"])


# The default queue's Redis list (each xdist worker prefixes its keys).
QUEUE = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "") + "celery"


def broker_messages(task_name: str) -> list[dict]:
    """Messages waiting in the Redis queue for ``task_name``."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    found = []
    for raw in client.lrange(QUEUE, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == task_name:
            found.append({"raw": raw, "args": message["headers"]["argsrepr"]})
    return found


def drop(messages):
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for message in messages:
        client.lrem(QUEUE, 1, message["raw"])


@pytest.fixture
def empty_queue():
    """This worker's queue (its own prefix) starts empty: a job of an earlier
    test, whose id the database may hand out again, must not be counted."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(QUEUE)


def queued_for(job) -> list[dict]:
    return [m for m in broker_messages("custody.ledger_job_run") if m["args"] == f"({job.pk},)"]


@pytest.mark.django_db
def test_asking_on_the_page_puts_the_job_on_the_broker_once_committed(
    facility, client, django_capture_on_commit_callbacks, empty_queue
):
    client.force_login(factories.UserFactory(role="auditor", facilities=[facility]))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(f"/audit/{facility.code}/ledger/verify/")
    job = LedgerJob.objects.get()
    assert queued_for(job) == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    messages = queued_for(job)
    try:
        assert len(messages) == 1
    finally:
        drop(messages)

    # The worker's side: run once, never twice.
    assert ledger_jobs.ledger_job_run(job_id=job.pk).status == "done"
    assert ledger_jobs.ledger_job_run(job_id=job.pk) is None


@pytest.mark.django_db
def test_a_job_the_broker_lost_is_enqueued_again_by_the_sweep(facility, make_user, empty_queue):
    user = make_user("auditor", facility)
    job = LedgerJob.objects.create(kind="verify", facility=facility, requested_by=user)
    assert ledger_jobs.ledger_jobs_sweep() == 0  # young: its own message may still come
    later = timezone.now() + ledger_jobs.QUEUED_TOO_LONG + timedelta(seconds=1)
    assert ledger_jobs.ledger_jobs_sweep(now=later) == 1
    messages = queued_for(job)
    drop(messages)
    assert len(messages) == 1


@pytest.mark.django_db
def test_a_failed_export_says_why_on_its_row(facility, make_user, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.LEDGER_EXPORT_DIR = blocker
    job = ledger_jobs.ledger_job_request(
        facility=facility, kind="export", by=make_user("auditor", facility)
    )
    done = ledger_jobs.ledger_job_run(job_id=job.pk)
    assert done.status == "failed"
    assert done.result["error"]
    assert done.finished_at is not None
