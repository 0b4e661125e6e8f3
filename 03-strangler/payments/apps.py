"""Django app configuration of the payments context."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
