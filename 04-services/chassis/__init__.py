"""The chassis: what every service of stage 04 shares, written once.

- settings.py: one service's settings from the environment (database per service, broker);
- errors.py, money.py: the shop's domain errors and money rules;
- grpc_server.py, grpc_errors.py, grpc_client.py: a gRPC server with health, reflection and
  one error mapping; a client with deadlines, retries and the same mapping read back;
- request_ids.py: one request id from the gateway through every service's logs;
- events.py, outbox.py, relay.py, broker.py, consumer.py, file_transport.py, models.py:
  integration events through a transactional outbox to a topic exchange, and idempotent
  consumers;
- management commands every service gets: serve_grpc, relay_outbox, ensure_database.

It is a Django app (`"chassis"` in a service's INSTALLED_APPS) for its tables (the outbox,
the processed events) and its commands. It imports no service.
"""
