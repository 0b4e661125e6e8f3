"""The shop: every model and use case of the monolith, in one Django app."""
