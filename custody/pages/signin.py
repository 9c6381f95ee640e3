"""The web sign-in (pages and the Django admin): password, then, for admins
and superusers, a second factor.

After a right password an admin is *not* signed in: the session only holds a
pending sign-in (the user's id, for a few minutes). The sign-in completes,
and the session becomes the admin's, only once the second factor passes, so
no page or API call ever sees a half-signed-in admin. An admin without an
authenticator enrols one at that point and is given recovery codes once.
"""

import time

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from config.errors import wants_json
from custody.services import signin
from custody.throttling import client_address, sign_in_allowed

PENDING = "signin_pending"
# Long enough to install an authenticator app and scan the code.
PENDING_SECONDS = 10 * 60


def lockout_response(request, original_response=None, credentials=None):
    """What a locked account is told (django-axes' AXES_LOCKOUT_CALLABLE):
    JSON on the API, a page on the web; never the reason behind a 500."""
    message = _(
        "This account is locked after too many failed sign-ins. Ask an administrator to unlock it."
    )
    if wants_json(request):
        return JsonResponse({"detail": message, "code": "account_locked"}, status=403)
    return render(request, "registration/locked_out.html", {"message": message}, status=403)


def _throttled(view, request, **context):
    ctx = view.get_context_data(throttled=True, **context)
    return view.render_to_response(ctx, status=429)


class SignInView(LoginView):
    """Step one: the password, under both sign-in budgets (address and
    username) shared with ``/api/v1/auth/token/``."""

    template_name = "registration/login.html"

    def post(self, request, *args, **kwargs):
        if not sign_in_allowed(request, self):
            return _throttled(self, request, form=self.get_form())
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if getattr(self.request, "axes_locked_out", False):
            return lockout_response(self.request)
        return super().form_invalid(form)

    def form_valid(self, form):
        user = form.get_user()
        if not signin.needs_second_factor(user):
            return super().form_valid(form)
        request = self.request
        # A new session key: nothing from before the password carries over.
        request.session.cycle_key()
        request.session[PENDING] = {
            "user": user.pk,
            "backend": user.backend,
            "since": time.time(),
            "next": self.get_success_url(),
        }
        step = "signin-code" if signin.has_second_factor(user) else "signin-enrol"
        return redirect(step)


class AdminSignInView(SignInView):
    """The Django admin's sign-in is this same page and throttle."""

    def get_default_redirect_url(self):
        return reverse("admin:index")


def pending_user(request):
    """The user whose password passed in this session, if still fresh."""
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("since", 0) > PENDING_SECONDS:
        request.session.pop(PENDING, None)
        return None, None
    user = get_user_model().objects.filter(pk=pending.get("user"), is_active=True).first()
    return user, pending


def _complete(request, user, pending, device):
    """The sign-in proper: the session becomes the user's, verified by ``device``."""
    request.session.pop(PENDING, None)
    auth_login(request, user, backend=pending["backend"])
    otp_login(request, device)
    target = pending.get("next") or settings.LOGIN_REDIRECT_URL
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = settings.LOGIN_REDIRECT_URL
    return target


def _locked(request, user) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": user.username})


def _code_failed(request, user):
    """A wrong code counts like a wrong password towards the lockout."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.username}, request=request
    )


def _step_guard(request):
    """Common to both second steps: a pending sign-in, within budget, not locked."""
    user, pending = pending_user(request)
    if user is None:
        return None, None, redirect("login")
    if _locked(request, user):
        request.session.pop(PENDING, None)
        return None, None, lockout_response(request)
    if request.method == "POST" and not sign_in_allowed(request, None, username=user.username):
        context = {
            "error": _("Too many attempts. Wait a minute and try again."),
            "username": user.username,
        }
        return None, None, render(request, "registration/second_factor.html", context, status=429)
    return user, pending, None


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def code_step(request):
    """Step two for an enrolled admin: the authenticator's code or a recovery code."""
    user, pending, refused = _step_guard(request)
    if refused:
        return refused
    if not signin.has_second_factor(user):
        return redirect("signin-enrol")
    error = None
    if request.method == "POST":
        device = signin.second_factor_verify(
            user=user, code=request.POST.get("code", ""), address=client_address(request)
        )
        if device is not None:
            return redirect(_complete(request, user, pending, device))
        _code_failed(request, user)
        if getattr(request, "axes_locked_out", False):
            request.session.pop(PENDING, None)
            return lockout_response(request)
        error = _("That code is not valid. Try the current code or a recovery code.")
    return render(
        request,
        "registration/second_factor.html",
        {"error": error, "username": user.username},
        status=400 if error else 200,
    )


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def enrol_step(request):
    """Step two for an admin with no authenticator yet: scan, confirm, keep the codes."""
    user, pending, refused = _step_guard(request)
    if refused:
        return refused
    if signin.has_second_factor(user):
        return redirect("signin-code")
    error = None
    if request.method == "POST":
        try:
            confirmed = signin.enrolment_confirm(
                user=user, code=request.POST.get("code", ""), address=client_address(request)
            )
        except PermissionDenied:
            return redirect("signin-code")
        if confirmed is not None:
            device, codes = confirmed
            target = _complete(request, user, pending, device)
            # Shown in this answer only: the codes are stored nowhere else readable.
            return render(
                request,
                "registration/recovery_codes.html",
                {"codes": codes, "next": target},
            )
        error = _("That code is not valid. Check the phone's clock and try the current code.")
    device = signin.enrolment_device(user=user)
    qr = segno.make(device.config_url, error="m").svg_inline(scale=5, border=2, light="#fff")
    return render(
        request,
        "registration/enrol.html",
        {
            "error": error,
            "qr": qr,
            "secret": signin.secret_text(device),
            "username": user.username,
            "issuer": settings.OTP_TOTP_ISSUER,
        },
        status=400 if error else 200,
    )


urlpatterns = [
    path("", SignInView.as_view(), name="login"),
    path("code/", code_step, name="signin-code"),
    path("enrol/", enrol_step, name="signin-enrol"),
]
