"""Ordering: carts, orders and the checkout that ties stock, payment and order together.

Public surface: `ordering.api` (what callers may do) and `ordering.events` (what it tells
the world happened).
"""
