import pytest
from django.conf import settings
from django.utils import translation
from rest_framework.test import APIClient

from tests import factories


def pytest_sessionstart(session):
    """Fail fast, in one line, when the real services are not there."""
    import psycopg
    import redis

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit("make test needs PostgreSQL: set DATABASE_URL=postgres://...", returncode=3)
    try:
        psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db["PASSWORD"],
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        pytest.exit(
            f"PostgreSQL unreachable at {db['HOST']}:{db['PORT'] or 5432} ({first_line}); "
            "start it (see .ci/run) or set DATABASE_URL.",
            returncode=3,
        )
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except (redis.RedisError, TypeError, ValueError) as exc:
        pytest.exit(
            f"Redis unreachable at {settings.REDIS_URL} ({exc}); start it (see .ci/run) "
            "or set REDIS_URL.",
            returncode=3,
        )


def pytest_collection_modifyitems(config, items):
    """Under ``make test`` (pytest-xdist, ``--dist loadfile --no-loadscope-reorder``)
    the workers take files in this order: those with slow tests, which boot
    processes, go first, so no worker starts a minutes-long test when the others
    are nearly done."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _flush_past_append_only_triggers():
    """Transactional tests end with a TRUNCATE of every table, which the
    append-only triggers refuse (as they must for the service). Between tests
    only, the flush runs as a replica session, where ordinary triggers do not
    fire; that needs superuser rights, which the service's role never has."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        sql_list = ["SET LOCAL session_replication_role = replica", *sql_list]
        return original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """A request activates its language in this thread; leave the default
    behind, or the next test's messages depend on which test ran before."""
    yield
    translation.deactivate()


@pytest.fixture
def facility(db):
    return factories.FacilityFactory()


@pytest.fixture
def other_facility(db):
    return factories.FacilityFactory()


@pytest.fixture
def make_user(db):
    def make(role, *facilities, **kwargs):
        return factories.UserFactory(role=role, facilities=list(facilities), **kwargs)

    return make


@pytest.fixture
def api_as():
    """An API client signed in as a user (token) or a device (device key)."""

    def client_for(principal=None, *, device_key=None):
        client = APIClient()
        if device_key:
            client.credentials(HTTP_AUTHORIZATION=f"Token {device_key}")
        elif principal is not None:
            from knox.models import AuthToken

            _instance, token = AuthToken.objects.create(user=principal)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return client_for


@pytest.fixture
def english_api_as(api_as):
    """``api_as`` whose clients ask for English answers (the service speaks
    Spanish first), for tests that read the messages."""

    def english(*args, **kwargs):
        client = api_as(*args, **kwargs)
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
        return client

    return english


@pytest.fixture
def witness_key(tmp_path, settings):
    """The ledger's witness on: a fresh signing key, and witness and export
    folders of this test's own. Returns the public key (hex)."""
    from custody.services.witness import signing_key_create

    key_file = tmp_path / "ledger-signing-key.pem"
    public_key = signing_key_create(key_file)
    settings.LEDGER_SIGNING_KEY_FILE = str(key_file)
    settings.LEDGER_WITNESS_DIR = tmp_path / "witness"
    settings.LEDGER_EXPORT_DIR = tmp_path / "exports"
    settings.LEDGER_WITNESS_TRUSTED_KEYS = []
    return public_key
