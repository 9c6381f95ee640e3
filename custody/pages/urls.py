"""Pages under /counts/: the tablet count flow and the count schedules."""

from django.urls import include, path

urlpatterns = [
    path("schedules/", include("custody.pages.schedules")),
    path("", include("custody.pages.sessions")),
    path("rounds/tags/", include("custody.pages.round_tags")),
    path("rounds/", include("custody.pages.rounds")),
    path("", include("custody.pages.recount")),
    path("", include("custody.pages.tablet")),
]
