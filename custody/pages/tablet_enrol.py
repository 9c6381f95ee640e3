"""Enrolling the browser a page is open in as a tablet of a facility
(custody.services.tablets), for administrators (the second factor is
required of their sessions everywhere: custody.middleware); and what the
count pages say about the tablet their marks go under."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from custody.models import CheckInMethod, Location, LocationKind
from custody.roles import ADMIN_ROLES
from custody.selectors import facilities_visible_to, location_list
from custody.services.evidence import device_methods
from custody.services.tablets import TABLET_METHODS, tablet_enrol
from custody.tablet_credential import remember_tablet, tablet_from_request

PAGE = "custody/counts/tablet.html"

# The tablet states the count pages tell apart.
ENROLLED, ENDED, ELSEWHERE, NONE = "enrolled", "ended", "elsewhere", "none"


def tablet_status(request, facility=None) -> dict:
    """What the count pages show (and counts.js needs) about this browser's
    tablet: whether its marks go under an enrolled tablet of ``facility``
    (any facility when None), and whether its scans may be recorded as RFID."""
    device = tablet_from_request(request)
    if device is None:
        state = NONE
    elif not device.is_active:
        state = ENDED
    elif facility is not None and device.facility_id != facility.pk:
        state = ELSEWHERE
    else:
        state = ENROLLED
    rfid = state == ENROLLED and CheckInMethod.RFID in device_methods(device)
    return {
        "tablet": device,
        "tablet_state": state,
        "tablet_rfid": rfid,
        "may_enrol": getattr(request.user, "role", None) in ADMIN_ROLES,
    }


class EnrolForm(forms.Form):
    facility = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Facility"))
    name = forms.CharField(
        label=gettext_lazy("Name of this tablet"),
        max_length=100,
        help_text=gettext_lazy("As written on its case, e.g. Tablet B-2."),
    )
    location = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label=gettext_lazy("Where it serves (optional)"),
        help_text=gettext_lazy("With a place, its scans count only there and under it."),
    )
    methods = forms.MultipleChoiceField(
        label=gettext_lazy("What it records"),
        choices=[(m.value, m.label) for m in CheckInMethod if m.value in TABLET_METHODS],
        widget=forms.CheckboxSelectMultiple,
        initial=sorted(TABLET_METHODS),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities_visible_to(user).order_by("code")
        # Units and other places, not the cells: a national list of cells
        # would be thousands of options, and a tablet walks a unit.
        self.fields["location"].queryset = (
            location_list(user=user)
            .exclude(kind=LocationKind.CELL)
            .select_related("facility")
            .order_by("facility__code", "code")
        )
        self.fields["location"].label_from_instance = _place_label

    def clean(self):
        data = super().clean()
        place: Location | None = data.get("location")
        if place is not None and data.get("facility") and place.facility_id != data["facility"].pk:
            self.add_error("location", _("Choose a place of the tablet's facility."))
        return data


def _place_label(place: Location) -> str:
    return f"{place.facility.code} · {place.code} — {place.name}"


@login_required
@require_http_methods(["GET", "POST"])
def tablet_enrol_page(request):
    """GET: which tablet this browser is, and the form; POST: enrol it."""
    if getattr(request.user, "role", None) not in ADMIN_ROLES:
        raise PermissionDenied(_("Only an administrator may enrol a tablet."))
    status = tablet_status(request)
    form = EnrolForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            device, key = tablet_enrol(
                facility=data["facility"],
                name=data["name"],
                location=data["location"],
                methods=data["methods"],
                by=request.user,
                replacing=status["tablet"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                _("This browser is now tablet %(name)s of %(facility)s.")
                % {"name": device.name, "facility": device.facility.code},
            )
            response = redirect("counts-tablet")
            remember_tablet(response, key)
            return response
    status["tablet_methods"] = (
        sorted(device_methods(status["tablet"])) if status["tablet"] is not None else []
    )
    context = {**status, "form": form}
    return render(request, PAGE, context, status=400 if form.errors else 200)
