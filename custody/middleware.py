import zoneinfo

from django.utils import timezone


class FacilityTimezoneMiddleware:
    """Pages show times in the signed-in person's (first) facility's zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tz_name = None
        if user is not None and user.is_authenticated:
            tz_name = user.facilities.order_by("code").values_list("timezone", flat=True).first()
        if tz_name:
            timezone.activate(zoneinfo.ZoneInfo(tz_name))
        else:
            timezone.deactivate()
        return self.get_response(request)
