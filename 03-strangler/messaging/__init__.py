"""Messaging: the plumbing every context shares to publish and consume domain events.

The transactional outbox (`outbox.record`), the relay that moves outbox rows to the broker
(`relay`), the broker connection and exchange (`broker`), and a consumer base (`consumer`).
It knows no context: contexts import it, never the other way round.
"""
