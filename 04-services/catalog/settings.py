"""The catalog service's settings: the chassis's, plus its release step (the demo catalog)."""

from chassis.settings import service_settings

globals().update(
    service_settings("catalog", apps=["catalog"], grpc_servicers="catalog.grpc_api.register")
)

# `python -m catalog release` runs these after migrating: the demo products, with their ids.
SHOP_RELEASE_COMMANDS = ["seed_catalog"]
