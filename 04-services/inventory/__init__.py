"""The inventory service: how many units of each product can be sold, and who holds them.

It owns the stock levels and the reservations of stage 04's checkout saga: the orders
service reserves stock (all lines or none), commits the reservation once the charge went
through, or releases it when the checkout failed or the order was cancelled. Each of those
calls is idempotent by the reservation id the caller chose, because between services every
call can arrive twice (a retry) or late (after its compensation): see `stock.py`.

It is its own process with its own database: nothing else reads the stock rows, so the
row locks that kept stages 01-03 from overselling now live here, in one transaction per call.
"""
