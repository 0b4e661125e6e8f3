"""The Celery application: configured from Django settings (the CELERY_* names)."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def start_tracing(**_kwargs) -> None:
    """Trace each of the worker's pool processes, once it is forked: the span exporter's
    thread would not survive the fork (OpenTelemetry's Celery instrumentation says so too)."""
    from shop import telemetry  # here: every command imports this module, few need tracing

    telemetry.setup("worker")
