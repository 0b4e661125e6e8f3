"""The gateway: the shop's public HTTP API (API.md) on port 8000, and nothing else.

It holds no shop data. Each request is validated here, as at stages 01-03, then answered by
the services over gRPC (chassis.clients): the catalog for products, the inventory for stock,
the orders service for carts and checkout. What it does own is what only the edge needs:
staff users and their tokens (Django's auth and DRF's authtoken, in its own database), the
error envelope, the request id every service's logs carry, the OpenAPI document.

A learner can diff `views.py` against stage 03's `edge/views.py`: the views are the same; the
context `api` modules they called became the adapters of `services/`, one per service, with
the same function names, so the change of architecture stays out of the views.
"""
