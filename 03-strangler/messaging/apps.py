"""Django app configuration of the shared messaging plumbing (it owns the outbox table)."""

from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
