"""Django app configuration of the ordering context."""

from django.apps import AppConfig


class OrderingConfig(AppConfig):
    name = "ordering"
