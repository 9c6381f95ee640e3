"""The demo facility's ladder and e-mail channels (``make run``, after
``seed_demo``). Idempotent; with DEBUG the e-mails are printed by the worker."""

from django.core.management.base import BaseCommand

from alerts.models import EscalationLevel, NotificationChannel
from custody.models import Facility

LADDER = [
    (0, "Supervisor de sector", 300, "supervisor@fj2.demo"),
    (1, "Dirección del centro", 600, "direccion@fj2.demo"),
    (2, "Dirección General del Sistema Penitenciario", None, "dgsp@sp.demo"),
]


class Command(BaseCommand):
    help = "Give the demo facility FJ2 an escalation ladder and e-mail channels (idempotent)."

    def handle(self, *args, **options):
        facility = Facility.objects.filter(code="FJ2").first()
        if facility is None:
            self.stdout.write("No FJ2 facility: run seed_demo first.")
            return
        for level, name, wait, address in LADDER:
            EscalationLevel.objects.get_or_create(
                facility=facility,
                level=level,
                defaults={"name": name, "acknowledge_within_seconds": wait},
            )
            NotificationChannel.objects.get_or_create(
                facility=facility,
                name=f"Correo — {name}",
                defaults={"level": level, "kind": "email", "target": address},
            )
        self.stdout.write(
            "FJ2 ladder: " + " → ".join(f"{name} ({address})" for _l, name, _w, address in LADDER)
        )
