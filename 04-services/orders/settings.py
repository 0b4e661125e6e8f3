"""The orders service's settings: the chassis's, for the service named "orders"."""

import os

from chassis.settings import service_settings
from django.core.exceptions import ImproperlyConfigured

globals().update(
    service_settings("orders", apps=["orders"], grpc_servicers="orders.grpc_api.register")
)

# How POST /api/orders/{id}/cancel/ cancels a confirmed order: "orchestrated" (the default:
# sagas.cancel calls the inventory and the payments services in turn) or "choreographed"
# (choreography.py: one event, and the others react). Chapter 4 compares the two.
SHOP_CANCELLATION = os.environ.get("SHOP_CANCELLATION", "orchestrated")
if SHOP_CANCELLATION not in ("orchestrated", "choreographed"):
    raise ImproperlyConfigured(
        f"SHOP_CANCELLATION is {SHOP_CANCELLATION!r}: orchestrated or choreographed"
    )
# Its part in a cancellation by choreography: `serve_grpc --consume-events` (the Procfile).
SHOP_EVENT_HANDLER = "orders.choreography.handle"
