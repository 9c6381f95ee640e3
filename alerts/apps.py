from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")

    def ready(self):
        from alerts.services.ledger_broken import on_ledger_found_broken
        from custody.signals import ledger_found_broken

        ledger_found_broken.connect(on_ledger_found_broken, dispatch_uid="alerts.ledger_broken")

        from alerts.services import change_kinds

        change_kinds.register()

        from alerts.services import retention

        retention.register()
