"""Placeholder until this subject lands: the names the layout links to."""

from django.http import Http404
from django.urls import path


def placeholder(request, code):
    raise Http404


urlpatterns = [
    path("", placeholder, name="audit-facility"),
]
