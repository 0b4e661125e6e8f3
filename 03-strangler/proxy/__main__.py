"""`python -m proxy`: run the strangler proxy on SHOP_HOST:SHOP_PORT (the Procfile's `proxy`)."""

import logging
import sys

from aiohttp import web
from kernel import telemetry

from proxy.app import make_app
from proxy.routes import RouteTableError
from proxy.settings import from_environment

log = logging.getLogger("proxy")


def main() -> int:
    settings = from_environment()
    logging.basicConfig(
        level=settings.log_level,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s trace_id=%(trace_id)s "
        "%(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(telemetry.TraceIdFilter())
    telemetry.setup("proxy")  # before the app is made: tracing adds its middleware
    try:
        app = make_app(settings)
    except (RouteTableError, OSError) as error:
        log.error("event=proxy_not_started routes=%s error=%r", settings.routes_file, str(error))
        return 2
    upstreams = " ".join(f"{name}={url}" for name, url in settings.upstreams.items())
    log.info(
        "event=proxy_started listen=http://%s:%d %s timeout=%ss",
        settings.host,
        settings.port,
        upstreams,
        settings.timeout,
    )
    # access_log=None: forward() logs one line per request itself, with the side and the id.
    # shutdown_timeout below honcho's 5 s grace: requests in flight finish, then it exits.
    web.run_app(
        app, host=settings.host, port=settings.port, access_log=None, print=None, shutdown_timeout=3
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
