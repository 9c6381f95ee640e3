"""``/counts/rounds/tags/``: an administrator prints a unit's cell tags as a sheet
of QR codes (custody.services.round_tag_sheet), for places without RFID."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from custody.models import LocationKind, TagKind
from custody.roles import ADMIN_ROLES
from custody.selectors import location_list
from custody.services.round_tag_sheet import round_tag_sheet


def _units(user):
    return (
        location_list(user=user)
        .filter(kind=LocationKind.UNIT)
        .annotate(
            cells=Count("children", filter=Q(children__kind=LocationKind.CELL), distinct=True),
            tagged=Count(
                "children",
                filter=Q(
                    children__kind=LocationKind.CELL,
                    children__tags__kind=TagKind.QR,
                    children__tags__retired_at__isnull=True,
                ),
                distinct=True,
            ),
        )
        .order_by("facility__code", "code")
    )


def _require_admin(user) -> None:
    # The service checks the facility too; this keeps guards off the list.
    if not (user.is_superuser or user.role in ADMIN_ROLES):
        raise PermissionDenied


@login_required
@require_GET
def tag_sheets_page(request):
    _require_admin(request.user)
    return render(request, "custody/rounds/tag_sheets.html", {"units": _units(request.user)})


@login_required
@require_POST
def tag_sheet_pdf(request, pk):
    _require_admin(request.user)
    unit = get_object_or_404(location_list(user=request.user), pk=pk, kind=LocationKind.UNIT)
    body = round_tag_sheet(unit=unit, by=request.user)
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="round-tags-{unit.facility.code}-{unit.code}.pdf"'
    )
    return response


urlpatterns = [
    path("", tag_sheets_page, name="round-tag-sheets"),
    path("<int:pk>/sheet.pdf", tag_sheet_pdf, name="round-tag-sheet"),
]
