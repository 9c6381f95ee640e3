"""Two days of the demo facility's past for the auditor workspace (``make run``,
after ``seed_demo``). Runs once: a facility that has counts is left alone."""

import time

from alerts.audit.demo_history import DAYS, seed_demo_history
from custody.management.demo_command import DemoCommand
from custody.models import Facility


class Command(DemoCommand):
    help = "Give the demo facility FJ2 two days of counts, checks and closed alerts (once)."

    def handle(self, *args, **options):
        facility = Facility.objects.filter(code="FJ2").first()
        if facility is None:
            self.stdout.write("No FJ2 facility: run seed_demo first.")
            return
        started = time.monotonic()
        if seed_demo_history(facility):
            self.stdout.write(
                f"FJ2 history: {DAYS} days of counts, checks and closed alerts "
                f"({time.monotonic() - started:.0f} s)."
            )
        else:
            self.stdout.write(
                "FJ2 already has counts, or people admitted in the last days: "
                "its history is left as it is."
            )
