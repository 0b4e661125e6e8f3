"""The inventory service's settings: the chassis's, plus its release step (the demo stock)."""

from chassis.settings import service_settings

globals().update(
    service_settings("inventory", apps=["inventory"], grpc_servicers="inventory.grpc_api.register")
)

# `python -m inventory provision` runs these after migrating: every demo product gets its stock.
SHOP_PROVISION_COMMANDS = ["seed_stock"]

# Its part in a cancellation by choreography: `serve_grpc --consume-events` (the Procfile).
SHOP_EVENT_HANDLER = "inventory.cancellations.handle"
