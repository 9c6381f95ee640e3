"""Server-rendered pages. Thin: selectors give the data, templates show it."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import render

from custody import selectors
from custody.throttling import AuthThrottle


@login_required
def home(request):
    return render(
        request,
        "custody/home.html",
        {"facilities": selectors.facility_overview(user=request.user)},
    )


class ThrottledLoginView(LoginView):
    """The sign-in page shares the API's sign-in budget per client address, so
    guessing passwords is as slow here as at ``/api/v1/auth/token/``."""

    def post(self, request, *args, **kwargs):
        if not AuthThrottle().allow_request(request, self):
            context = self.get_context_data(form=self.get_form(), throttled=True)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)
