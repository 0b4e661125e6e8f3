"""The payments service's settings: the chassis's, nothing else (it seeds no demo data)."""

from chassis.settings import service_settings

globals().update(
    service_settings("payments", apps=["payments"], grpc_servicers="payments.grpc_api.register")
)

# Its part in a cancellation by choreography: `serve_grpc --consume-events` (the Procfile).
SHOP_EVENT_HANDLER = "payments.cancellations.handle"
