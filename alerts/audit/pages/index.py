"""The way in: straight to one's facility, or a choice among several."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from alerts.audit.access import can_audit
from alerts.views import signed_in
from custody.views import facility_picker


@signed_in
@require_GET
def audit_index(request):
    if not can_audit(request.user):
        raise PermissionDenied
    return facility_picker(request, url_name="audit-facility", title=_("Auditor workspace"))
