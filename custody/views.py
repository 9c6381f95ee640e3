"""Server-rendered pages. Thin: selectors give the data, templates show it."""

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render

from custody import selectors, services


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


def admin_password_change(request):
    """The Django admin's "change my password", on the record: the new
    password ends the account's tokens (``custody.receivers``) and other
    sessions (their password hash no longer matches), and the account's
    chains record it, naming the person."""
    from django.contrib import admin

    view = admin.site.admin_view(admin.site.password_change)
    if request.method != "POST" or not request.user.is_authenticated:
        return view(request)
    with transaction.atomic():
        before = services.user_access_snapshot(request.user)
        response = view(request)
        if response.status_code == 302:
            services.user_record_change(
                user=request.user, by=request.user, before=before, password_changed=True
            )
    return response
