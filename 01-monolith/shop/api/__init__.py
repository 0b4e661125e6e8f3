"""The HTTP edge of the shop: DRF views, the error envelope, presenters and routes."""
