"""``/api/v1/audit/``: each subject module brings its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("alerts.audit.api.timelines")),
    path("", include("alerts.audit.api.integrity")),
    path("", include("alerts.audit.api.rounds")),
]
