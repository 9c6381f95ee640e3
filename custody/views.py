"""Server-rendered pages. Thin: selectors give the data, templates show it."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from custody import selectors


@login_required
def home(request):
    return render(
        request,
        "custody/home.html",
        {"facilities": selectors.facility_overview(user=request.user)},
    )


def facility_picker(request, *, url_name: str, title):
    """A page kept per facility: straight to it for someone with one facility,
    else a choice among theirs (``url_name`` takes the facility's code)."""
    facilities = list(selectors.facilities_visible_to(request.user).order_by("code"))
    if len(facilities) == 1:
        return redirect(url_name, code=facilities[0].code)
    return render(
        request,
        "custody/facility_picker.html",
        {"facilities": facilities, "url_name": url_name, "title": title},
    )
