"""Server-rendered pages. Thin: selectors give the data, templates show it."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from custody import selectors


@login_required
def home(request):
    return render(
        request,
        "custody/home.html",
        {"facilities": selectors.facility_overview(user=request.user)},
    )
