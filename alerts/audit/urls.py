"""``/audit/``: the auditor workspace, one facility at a time."""

from django.urls import include, path

from alerts.audit.pages import index

urlpatterns = [
    path("", index.audit_index, name="audit"),
    path("<str:code>/ledger/", include("alerts.audit.pages.ledger")),
    path("<str:code>/integrity/", include("alerts.audit.pages.integrity")),
    path("<str:code>/rounds/", include("alerts.audit.pages.rounds")),
    path("<str:code>/", include("alerts.audit.pages.timelines")),
    path("<str:code>/", include("alerts.audit.pages.charts")),
]
