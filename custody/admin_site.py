"""The Django admin's site: its sign-in is the service's own (throttled, with
the second factor), and an admin's session opens it only once verified."""

from django.contrib import admin

from custody.services.signin import needs_second_factor


class CustodyAdminSite(admin.AdminSite):
    def has_permission(self, request):
        user = request.user
        if not super().has_permission(request):
            return False
        # Belt and braces: SecondFactorRequiredMiddleware already ends such sessions.
        return not needs_second_factor(user) or user.is_verified()

    def login(self, request, extra_context=None):
        from custody.pages.signin import AdminSignInView

        return AdminSignInView.as_view()(request)
