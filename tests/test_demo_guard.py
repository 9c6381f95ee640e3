"""The demo commands write fake people, known passwords and device keys: with
DEBUG off (production) they refuse, unless told ``--demo-on-production``."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from custody.models import Facility, User

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parent.parent
DEMO_COMMANDS = ["seed_demo", "seed_demo_alerts", "seed_demo_history"]


@pytest.mark.parametrize("command", DEMO_COMMANDS)
def test_a_demo_command_refuses_to_run_with_debug_off(settings, command):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--demo-on-production"):
        call_command(command, stdout=StringIO())
    assert not Facility.objects.exists()
    assert not User.objects.exists()


def test_seed_demo_runs_with_debug_on_as_make_run_sets_it(settings):
    settings.DEBUG = True
    call_command("seed_demo", inmates=5, stdout=StringIO())
    assert Facility.objects.filter(code="FJ2").exists()


def test_seed_demo_runs_on_production_only_when_told_in_as_many_words(settings):
    settings.DEBUG = False
    call_command("seed_demo", inmates=5, demo_on_production=True, stdout=StringIO())
    assert Facility.objects.filter(code="FJ2").exists()


def test_from_the_shell_the_refusal_is_an_error_exit_before_touching_the_database():
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "DEBUG": "0",
        "SECRET_KEY": "a-production-like-secret-key-for-this-test-only-0123456789",
        "ALLOWED_HOSTS": "custody.example.org",
        # Nothing listens there: the command must stop before connecting.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "--demo-on-production" in result.stderr
    assert "Traceback" not in result.stderr
