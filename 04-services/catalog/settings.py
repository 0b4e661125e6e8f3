"""The catalog service's settings: the chassis's, plus its release step (the demo catalog)."""

from chassis.settings import service_settings

globals().update(
    service_settings("catalog", apps=["catalog"], grpc_servicers="catalog.grpc_api.register")
)

# `python -m catalog provision` runs these after migrating: the demo products, with their ids.
SHOP_PROVISION_COMMANDS = ["seed_catalog"]
