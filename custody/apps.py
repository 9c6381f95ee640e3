from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustodyConfig(AppConfig):
    name = "custody"
    verbose_name = _("Custody")

    def ready(self):
        from custody import signals  # noqa: F401  (connects the receivers)
