"""Messaging: the monolith's side of publishing domain events.

The transactional outbox (`outbox.record`) and the relay that moves outbox rows to the broker
(`relay`). It knows no context: contexts import it, never the other way round. The broker
connection and exchange (`kernel.broker`) and the consumer loop (`kernel.consumer`) are in
the shared kernel: the catalog service consumes the monolith's catalog events with them too.
"""
