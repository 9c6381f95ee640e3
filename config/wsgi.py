import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# The watchdog counts this process's start as a start (alerts.services.policy):
# a stack started over an old database is not stale for the time it was down.
from django.utils import timezone  # noqa: E402 - after Django is set up

from alerts.services.policy import process_started  # noqa: E402

process_started(timezone.now())
