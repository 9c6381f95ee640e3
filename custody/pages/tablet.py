"""Tablet pages of the count flow (filled in by the tablet work)."""

urlpatterns = []
