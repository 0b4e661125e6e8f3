"""The Celery application: configured from Django settings (the CELERY_* names)."""

import os
import shutil
import time
from pathlib import Path

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# --- Tracing (shop/telemetry.py) -----------------------------------------------------------
@signals.worker_process_init.connect(weak=False)
def start_tracing(**_kwargs) -> None:
    """Trace each of the worker's pool processes, once it is forked: the span exporter's
    thread would not survive the fork (OpenTelemetry's Celery instrumentation says so too)."""
    from shop import telemetry  # here: every command imports this module, few need tracing

    telemetry.setup("worker")


# --- Metrics (config/metrics.py) ------------------------------------------------------------
@signals.celeryd_init.connect
def serve_worker_metrics(**_) -> None:
    """In the worker's main process, before it forks its pool. The pool processes count their
    tasks in files of one folder, PROMETHEUS_MULTIPROC_DIR, which the Procfile's line sets:
    it must be set before prometheus-client is first imported (it picks its mode then), and
    Django's checks import it before any signal of Celery's could. Emptied here (an earlier
    run's files would be added in); the main process serves what they all counted."""
    port, folder = os.environ.get("SHOP_METRICS_PORT"), os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not port:
        return
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True)
    from config import metrics

    metrics.serve(metrics.QueueDepth(app))


_task_started: dict[str, float] = {}  # task id -> when it started, in the process running it


@signals.task_prerun.connect
def _start_timing(task_id: str, **_) -> None:
    _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _count_task(task_id: str, task, state: str | None = None, **_) -> None:
    from config import metrics

    started = _task_started.pop(task_id, None)
    seconds = time.perf_counter() - started if started is not None else None
    metrics.observe_task(task.name, state or "UNKNOWN", seconds)
