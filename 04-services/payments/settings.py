"""The payments service's settings: the chassis's, nothing else (it seeds no demo data)."""

from chassis.settings import service_settings

globals().update(
    service_settings("payments", apps=["payments"], grpc_servicers="payments.grpc_api.register")
)
