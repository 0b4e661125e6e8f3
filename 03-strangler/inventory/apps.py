"""Django app configuration of the inventory context."""

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
