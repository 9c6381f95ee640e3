"""Sign-in actions on the users admin (unlock, reset the second factor), both
through the recorded services; the second-factor devices themselves are not
edited in the admin, where a change would leave no trace on the record."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.admin import UserAdmin
from custody.models import User
from custody.services import signin

for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class SignInUserAdmin(UserAdmin):
    actions = ["unlock_sign_in", "reset_second_factor"]

    @admin.action(description=gettext_lazy("Unlock sign-in (after too many failures)"))
    def unlock_sign_in(self, request, queryset):
        for user in queryset:
            try:
                cleared = signin.account_unlock(user=user, by=request.user)
            except PermissionDenied as exc:
                messages.error(request, f"{user.username}: {exc}")
                continue
            if cleared:
                messages.success(request, _("%(user)s: unlocked.") % {"user": user.username})
            else:
                messages.info(request, _("%(user)s: was not locked.") % {"user": user.username})

    @admin.action(description=gettext_lazy("Reset second factor (lost authenticator)"))
    def reset_second_factor(self, request, queryset):
        for user in queryset:
            try:
                signin.second_factor_reset(user=user, by=request.user)
            except PermissionDenied as exc:
                messages.error(request, f"{user.username}: {exc}")
                continue
            messages.success(
                request,
                _("%(user)s: enrols a new authenticator at the next sign-in.")
                % {"user": user.username},
            )


admin.site.unregister(User)
admin.site.register(User, SignInUserAdmin)
