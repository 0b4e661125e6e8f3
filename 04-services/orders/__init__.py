"""The orders service: carts, orders, and the checkout saga that spans services.

Stages 01-03 checked a cart out in one database transaction: stock, charge and order
committed together or not at all. Here the stock lives in the inventory service's database
and the charges in the payments service's, so no transaction can hold them all. The orders
service orchestrates instead, one step at a time, and writes down where it is before and
after each remote call (`sagas.py`): reserve the stock, charge, commit the reservation,
confirm the order. A step that fails is compensated in reverse (release, refund), and a saga
left half-way by a crash is driven to an end, forward or back, by the recovery process.

It owns the carts (a cart shows the catalog's current prices) and the orders (each keeps a
snapshot of what was bought), and it publishes order.confirmed and order.cancelled through
its outbox. It reaches the other services only through `chassis.clients` (`remote.py`).
"""
