from django.apps import AppConfig


class ChassisConfig(AppConfig):
    name = "chassis"
    default_auto_field = "django.db.models.BigAutoField"
