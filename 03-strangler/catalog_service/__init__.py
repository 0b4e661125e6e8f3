"""The catalog service: the first piece cut out of the monolith (stage 03, the strangler fig).

A small Django project of its own, with its own database, run from the stage folder:

- HTTP (`wsgi.py`, gunicorn): the catalog reads of API.md, answered exactly as the monolith
  answers them, for the strangler proxy to route GET /api/products/ here;
- gRPC (`grpc_server.py`, `python -m catalog_service serve_grpc`): `shop.catalog.v1`, which
  the monolith's `catalog.api` calls (reads, and the staff writes it forwards);
- `copy_catalog`: the one-off move of the catalog's rows out of the monolith's database.

It shares only the stage's kernel with the monolith (`kernel/`: errors, money, the HTTP
API's shared parts) and imports nothing else of it (.importlinter says so).
"""
