"""The payments service: charges and refunds at the (fake) payment provider, every one recorded.

At stages 01-03 a charge was a row written in the checkout's own transaction: a crash rolled
back the order and the charge together. Here the charge happens in another process, with
its own database, so nothing rolls it back: the orders service's saga refunds it instead.
What makes that safe is that both calls are idempotent by a key the caller derives from the
order ("charge-<order id>", "refund-<order id>"): a call retried after a timeout, or sent
again by a saga recovering from a crash, answers the first call's charge and never asks the
provider twice. A recovery that gives a checkout up voids its charge key (VoidCharge): the
charge made with it, if any, is answered; if none was, none ever will be, even from a call
still on its way. And because every charge is recorded, declined and voided ones too,
charges can be reconciled with orders (ListCharges).

- `provider.py`: the fake provider (test tokens, as at stage 03);
- `charges.py`: the use cases, idempotency and its races;
- `grpc_api.py`: `shop.payments.v1.PaymentsService`, a thin servicer over them.
"""
