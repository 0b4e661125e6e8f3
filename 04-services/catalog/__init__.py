"""The catalog service: the products the shop sells, their prices and categories.

Stage 03 cut it out of the monolith; stage 04 keeps it as it was, minus what only the
strangler needed: no HTTP reads (the gateway serves the public API and asks here over gRPC),
no copy out of a monolith's database (there is no monolith: `seed_catalog` writes the demo
catalog with the ids every other service refers to), no second database.

- `products.py`: the use cases and every rule about a product, whoever calls;
- `grpc_api.py`: `shop.catalog.v1.CatalogService`, a thin servicer over them;
- `management/commands/seed_catalog.py`: the demo catalog, part of the service's release.

Its tables are its own (its own SQLite file or PostgreSQL database): an order keeps a
snapshot of a product's name and price, never a foreign key into this database.
"""
