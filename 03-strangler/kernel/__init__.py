"""The shared kernel: what every context may import (errors, money, the event base).

It knows no context and imports none; keep it this small.
"""
