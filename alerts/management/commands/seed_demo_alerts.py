"""The demo facility's ladder and e-mail channels (``make run``, after
``seed_demo``). Idempotent; with DEBUG the e-mails are printed by the worker."""

from alerts.models import EscalationLevel, NotificationChannel
from alerts.services.settings_record import alert_setting_save
from custody.management.demo_command import DemoCommand
from custody.models import Facility

LADDER = [
    (0, "Supervisor de sector", 300, "supervisor@fj2.demo"),
    (1, "Dirección del centro", 600, "direccion@fj2.demo"),
    (2, "Dirección General del Sistema Penitenciario", None, "dgsp@sp.demo"),
]


class Command(DemoCommand):
    help = "Give the demo facility FJ2 an escalation ladder and e-mail channels (idempotent)."

    def handle(self, *args, **options):
        facility = Facility.objects.filter(code="FJ2").first()
        if facility is None:
            self.stdout.write("No FJ2 facility: run seed_demo first.")
            return
        for level, name, wait, address in LADDER:
            # Through the service, so the demo's settings are on the record too.
            if not EscalationLevel.objects.filter(facility=facility, level=level).exists():
                alert_setting_save(
                    setting=EscalationLevel(
                        facility=facility, level=level, name=name, acknowledge_within_seconds=wait
                    ),
                    by=None,
                )
            channel = f"Correo — {name}"
            if not NotificationChannel.objects.filter(facility=facility, name=channel).exists():
                alert_setting_save(
                    setting=NotificationChannel(
                        facility=facility, name=channel, level=level, kind="email", target=address
                    ),
                    by=None,
                )
        self.stdout.write(
            "FJ2 ladder: " + " → ".join(f"{name} ({address})" for _l, name, _w, address in LADDER)
        )
