"""Count schedules and emergency calls, for supervisors (filled in by the schedules work)."""

urlpatterns = []
