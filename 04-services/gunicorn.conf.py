"""gunicorn's settings for the gateway: gunicorn reads ./gunicorn.conf.py from the folder it
starts in (the Procfile's, 04-services/) without being told.

Prometheus with several worker processes: each worker counts its own requests, so every
worker writes its figures to files in one folder, PROMETHEUS_MULTIPROC_DIR, which the
/metrics view adds up (chassis/metrics.py). The folder is this server's own, under the
stage's var/, and emptied when the server starts: files left by an earlier run would be
added in too. It must be set before prometheus-client is first imported, which happens in
each worker after it is forked from here.
"""

import os
import shutil
from pathlib import Path

STAGE_DIR = Path(__file__).resolve().parent


def on_starting(server) -> None:
    var_dir = Path(os.environ.get("SHOP_VAR_DIR") or STAGE_DIR.parent / "var" / STAGE_DIR.name)
    port = server.cfg.bind[0].rsplit(":", 1)[-1]
    folder = var_dir.resolve() / "metrics" / f"gunicorn-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def child_exit(server, worker) -> None:
    """A worker that exits (restarted, or killed on a timeout) leaves its counters to be
    added in; what it held as a live gauge goes with it."""
    from prometheus_client import multiprocess  # after on_starting has set the folder

    multiprocess.mark_process_dead(worker.pid)
