"""The orders service's settings: the chassis's, for the service named "orders"."""

from chassis.settings import service_settings

globals().update(
    service_settings("orders", apps=["orders"], grpc_servicers="orders.grpc_api.register")
)
