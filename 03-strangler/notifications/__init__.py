"""Notifications: emails to customers, sent in reaction to ordering's events.

Nobody calls it, so it has no `api.py`: it listens. Ordering does not know it exists.
"""
