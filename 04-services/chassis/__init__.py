"""The chassis: what every service of stage 04 shares, written once.

- settings.py: one service's settings from the environment (database per service, broker);
- errors.py, money.py: the shop's domain errors and money rules;
- grpc_server.py, grpc_errors.py, grpc_client.py: a gRPC server with health, reflection and
  one error mapping; a client with deadlines, retries and the same mapping read back;
- deadlines.py: one time budget per public request, handed on by every hop;
- certificates.py: the stage's certificate authority and service certificates (mutual TLS);
- request_ids.py: one request id from the gateway through every service's logs;
- events.py, outbox.py, relay.py, broker.py, consumer.py, file_transport.py, models.py:
  integration events through a transactional outbox to a topic exchange, and idempotent
  consumers; dead_letters.py: the events a consumer gave up on;
- management commands every service gets: serve_grpc, relay_outbox, ensure_database,
  release, dead_letters.

It is a Django app (`"chassis"` in a service's INSTALLED_APPS) for its tables (the outbox,
the processed events) and its commands. It imports no service.
"""
