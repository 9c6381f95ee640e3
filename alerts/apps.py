from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")

    def ready(self):
        from alerts.services.ledger_broken import on_ledger_found_broken
        from custody.signals import ledger_found_broken

        ledger_found_broken.connect(on_ledger_found_broken, dispatch_uid="alerts.ledger_broken")

        from alerts.rules_rounds import on_round_attention_observed
        from custody.signals import round_attention_observed

        round_attention_observed.connect(
            on_round_attention_observed, dispatch_uid="alerts.round_attention"
        )

        from alerts.services import change_kinds

        change_kinds.register()
