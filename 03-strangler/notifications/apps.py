"""Django app configuration of the notifications context."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
