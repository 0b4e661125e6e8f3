"""Django app configuration of the catalog context."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
