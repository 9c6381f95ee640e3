from django.urls import path

from alerts import views

urlpatterns = [
    path("dashboard/", views.dashboard_index, name="dashboard"),
    path(
        "dashboard/alerts/<int:pk>/acknowledge/",
        views.alert_acknowledge,
        name="dashboard-acknowledge",
    ),
    path("dashboard/alerts/<int:pk>/resolve/", views.alert_resolve, name="dashboard-resolve"),
    path("dashboard/<str:code>/", views.dashboard, name="dashboard-facility"),
    path("dashboard/<str:code>/live/", views.dashboard_live, name="dashboard-live"),
]
