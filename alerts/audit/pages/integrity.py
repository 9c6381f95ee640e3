"""Placeholder until this subject lands."""

urlpatterns = []
