from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class CustodyConfig(AppConfig):
    default = True  # this module also holds the admin's config
    name = "custody"
    verbose_name = _("Custody")

    def ready(self):
        from custody import (
            checks,  # noqa: F401  (registers the system checks)
            receivers,  # noqa: F401  (connects the receivers)
        )
        from custody.services import (
            change_kinds,
            retention,  # noqa: F401  (registers its kinds and the legal holds' blocker)
        )

        change_kinds.register()


class CustodyAdminConfig(admin_apps.AdminConfig):
    """Django's admin on ``custody.admin_site.CustodyAdminSite``."""

    default = False

    default_site = "custody.admin_site.CustodyAdminSite"
