"""The HTTP and identity edge: the public API's views, auth, errors, health and idempotency.

The only package that talks to every context (through each one's `api`), and the only one
that knows HTTP. Staff users and tokens are Django's auth and DRF's authtoken.
"""
