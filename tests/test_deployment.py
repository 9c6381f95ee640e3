"""The way the service is deployed and started, read from the files that do it.

docker-compose.yml must start every process the service needs, with every
setting production needs; the settings must pass Django's deployment checks
with production values; and the two commands the README promises must be the
ones CI runs.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_PROCESSES = ("web", "worker", "beat")
# What config/settings.py cannot run without when DEBUG is off.
PRODUCTION_ENV = ("DATABASE_URL", "REDIS_URL", "DEBUG", "ALLOWED_HOSTS")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, $NAME
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str) -> str:
    """What compose makes of a value when only the required variables are set."""

    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        return f"required-{name.lower()}"

    return _VARIABLE.sub(replace, value)


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services(compose):
    return compose["services"]


def command_of(service) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def environment_of(service) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def depends_on(service) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def built_services(compose) -> dict:
    """Every service that runs the project's own image (not postgres or redis)."""
    return {name: s for name, s in services(compose).items() if "build" in s}


def test_compose_runs_the_database_the_broker_and_the_three_processes(compose):
    assert {"postgres", "redis", *APP_PROCESSES} <= set(services(compose))
    assert services(compose)["postgres"]["image"].startswith("postgres:16")
    assert services(compose)["redis"]["image"].startswith("redis:7")
    assert set(APP_PROCESSES) <= set(built_services(compose))


@pytest.mark.parametrize(
    ("process", "command"),
    [
        ("web", "gunicorn config.wsgi"),
        ("worker", "celery -A config worker"),
        ("beat", "celery -A config beat"),
    ],
)
def test_each_process_runs_its_own_command(compose, process, command):
    assert command_of(services(compose)[process]).startswith(command)


def test_web_listens_on_every_interface_inside_the_container(compose):
    assert "--bind 0.0.0.0:8000" in command_of(services(compose)["web"])


def test_every_app_container_gets_what_production_settings_need(compose):
    for name, service in built_services(compose).items():
        env = environment_of(service)
        missing = [var for var in PRODUCTION_ENV if not env.get(var)]
        assert not missing, f"{name} lacks {missing}"
        assert env.get("SECRET_KEY") or env.get("SECRET_KEY_FILE"), f"{name} has no SECRET_KEY"
        assert env["DEBUG"].lower() in {"0", "false", "no", "off"}, f"{name} runs with DEBUG on"


def test_secrets_and_host_names_must_be_given_never_defaulted(compose):
    raw = services(compose)["web"]["environment"]
    required = ["ALLOWED_HOSTS"] if "SECRET_KEY_FILE" in raw else ["SECRET_KEY", "ALLOWED_HOSTS"]
    for var in required:
        assert re.fullmatch(r"\$\{" + var + r":\?[^}]+\}", raw[var]), raw[var]


def test_database_and_broker_urls_name_the_compose_services(compose):
    for name, service in built_services(compose).items():
        env = environment_of(service)
        database, broker = urlparse(env["DATABASE_URL"]), urlparse(env["REDIS_URL"])
        assert database.scheme.startswith("postgres"), name
        assert database.hostname == "postgres", name
        assert broker.scheme == "redis", name
        assert broker.hostname == "redis", name


def test_every_service_has_a_healthcheck(compose):
    for name in ("postgres", "redis", *APP_PROCESSES):
        check = services(compose)[name].get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    assert "pg_isready" in str(services(compose)["postgres"]["healthcheck"]["test"])
    assert "ping" in str(services(compose)["redis"]["healthcheck"]["test"])
    assert "/healthz" in str(services(compose)["web"]["healthcheck"]["test"])
    assert "inspect ping" in str(services(compose)["worker"]["healthcheck"]["test"])


def test_processes_start_after_migrations_on_a_healthy_database_and_broker(compose):
    migrators = [
        name
        for name, service in built_services(compose).items()
        if "manage.py migrate" in command_of(service)
    ]
    assert migrators, "nothing runs manage.py migrate"
    for process in APP_PROCESSES:
        deps = depends_on(services(compose)[process])
        assert deps.get("postgres") == "service_healthy", process
        assert deps.get("redis") == "service_healthy", process
        assert any(deps.get(m) == "service_completed_successfully" for m in migrators), process


def test_postgres_keeps_its_data_on_a_named_volume(compose):
    named = set(compose.get("volumes") or {})
    sources = []
    for mount in services(compose)["postgres"].get("volumes", []):
        if isinstance(mount, str):
            source, _, target = mount.partition(":")
            target = target.split(":")[0]
        else:
            source, target = mount.get("source"), mount.get("target")
        if target == "/var/lib/postgresql/data":
            sources.append(source)
    assert sources, "postgres data is not mounted"
    assert sources[0] in named, f"{sources[0]!r} is not a volume declared at the top level"


def test_image_runs_as_a_non_root_user_and_serves_gunicorn():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^RUN .*manage\.py collectstatic", dockerfile, re.M)
    assert re.search(r"^EXPOSE 8000\b", dockerfile, re.M)
    cmd = re.findall(r"^CMD (.+)$", dockerfile, re.M)
    assert cmd and cmd[-1].startswith('["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"')


def deploy_check(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_settings_pass_the_deployment_checks_without_a_warning(tmp_path):
    from custody.services.witness import signing_key_create

    key_file = tmp_path / "ledger-signing-key.pem"
    signing_key_create(key_file)
    # A clean environment: what the test settings put into os.environ must not leak in.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "".join(
            secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)") for _ in range(60)
        ),
        "ALLOWED_HOSTS": "custody.example.org",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/custody",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "LEDGER_SIGNING_KEY_FILE": str(key_file),
    }
    result = deploy_check(env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert "System check identified no issues" in output

    # Without the witness key the deployment is warned, and a bad key is an error.
    del env["LEDGER_SIGNING_KEY_FILE"]
    unwitnessed = deploy_check(env)
    assert unwitnessed.returncode != 0
    assert "custody.W001" in unwitnessed.stdout + unwitnessed.stderr
    (tmp_path / "not-a-key.pem").write_text("nonsense")
    env["LEDGER_SIGNING_KEY_FILE"] = str(tmp_path / "not-a-key.pem")
    assert "custody.E001" in (lambda r: r.stdout + r.stderr)(deploy_check(env))


def test_ci_runs_make_test():
    assert re.search(r"^\s*make test\s*$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_readme_starts_with_make_run_then_make_test():
    readme = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", readme, re.M | re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ").strip()
            if line and not line.startswith("#"):
                commands.append(line)
    assert commands[:2] == ["make run", "make test"]
