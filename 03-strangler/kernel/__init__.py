"""The shared kernel: what every context, and the catalog service, may import (errors, money,
the event base, the HTTP API's shared parts, the broker and the consumer loop).

It knows no context and imports none; keep it this small.
"""
