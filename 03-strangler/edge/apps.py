"""Django app configuration of the HTTP edge."""

from django.apps import AppConfig


class EdgeConfig(AppConfig):
    name = "edge"
