from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from alerts.api import AlertViewSet
from alerts.escalation_api import EscalationLadderView
from config.health import healthz
from custody import views
from custody.api import (
    changes,
    checkins,
    holds,
    internal_movements,
    ledger,
    movements,
    rollcalls,
    rounds,
    signin,
)
from custody.api import records as api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("facilities", api.FacilityViewSet, basename="facility")
router.register("locations", api.LocationViewSet, basename="location")
router.register("inmates", api.InmateViewSet, basename="inmate")
router.register("movements", movements.MovementViewSet, basename="movement")
router.register(
    "internal-movements", internal_movements.InternalMovementViewSet, basename="internal-movement"
)
router.register("sessions", internal_movements.SessionViewSet, basename="movement-session")
router.register("cell-assignments", movements.CellAssignmentViewSet, basename="cell-assignment")
router.register("checkins", checkins.CheckInViewSet, basename="checkin")
router.register("quarantine", checkins.QuarantineViewSet, basename="quarantine")
router.register("devices", api.DeviceViewSet, basename="device")
router.register("users", api.UserViewSet, basename="user")
router.register("ledger", ledger.LedgerViewSet, basename="ledger")
router.register("rollcalls", rollcalls.RollCallViewSet, basename="rollcall")
router.register("count-schedules", rollcalls.CountScheduleViewSet, basename="count-schedule")
router.register("count-calls", rollcalls.CountCallViewSet, basename="count-call")
router.register("changes", changes.ChangeViewSet, basename="change")
router.register("holds", holds.HoldViewSet, basename="hold")
router.register("alerts", AlertViewSet, basename="alert")

# Swagger UI's script is its own file (the split view: no inline script under
# the CSP); its page keeps one inline <style>, allowed on this page alone.
api_docs = csp_update({"style-src": [UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/auth/token/", signin.AuthTokenView.as_view(), name="auth-token"),
    path("api/v1/auth/token/revoke/", api.AuthTokenRevokeView.as_view(), name="auth-token-revoke"),
    # Before the router, whose devices/{id}/ would otherwise take "heartbeat".
    path("api/v1/devices/heartbeat/", checkins.HeartbeatView.as_view(), name="device-heartbeat"),
    path("api/v1/users/<str:username>/unlock/", signin.UnlockView.as_view(), name="user-unlock"),
    path(
        "api/v1/facilities/<str:code>/escalation/",
        EscalationLadderView.as_view(),
        name="facility-escalation",
    ),
    path("api/v1/audit/", include("alerts.audit.api.urls")),
    path(
        "api/v1/locations/<int:location_pk>/tags/",
        rounds.LocationTagViewSet.as_view({"get": "list", "post": "create"}),
        name="location-tags",
    ),
    path(
        "api/v1/locations/<int:location_pk>/tags/<str:uid>/retire/",
        rounds.LocationTagViewSet.as_view({"post": "retire"}),
        name="location-tag-retire",
    ),
    path("api/v1/rounds/", rounds.RoundViewSet.as_view({"post": "create"}), name="rounds"),
    path("api/v1/rounds/due/", rounds.RoundViewSet.as_view({"get": "due"}), name="rounds-due"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    # Before the admin's own: a password change there is on the record too.
    path("admin/password_change/", views.admin_password_change),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("login/", include("custody.pages.signin")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("counts/", include("custody.pages.urls")),
    path("changes/", include("custody.pages.changes")),
    path("holds/", include("custody.pages.holds")),
    path("roll/", include("custody.pages.roll")),
    path("audit/", include("alerts.audit.urls")),
    path("", include("alerts.urls")),
    path("", views.home, name="home"),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
