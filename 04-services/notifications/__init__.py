"""The notifications service: the emails to customers, sent in reaction to order events.

Nobody calls it, so it has no gRPC API: it listens. The orders service records
`order.confirmed` and `order.cancelled` in its outbox (chassis.order_events), its relay
publishes them to the broker's topic exchange, and this service's durable queue collects them,
also while it is down. Each event carries what the email needs, so this service never calls
the orders service back.

Its database holds one table that matters, the chassis's ProcessedEvent: delivery is at
least once (a relay that crashed before marking a row publishes it again), so each event id
is remembered, and an event delivered twice sends one email.
"""
