"""The shop's domain errors: one hierarchy, each carrying the API error code and status.

Every context raises these; one DRF exception handler (kernel.http_errors) turns them into the error
envelope of API.md. Nothing else builds error JSON.
"""

from typing import Any

# Seconds a client is told to wait (Retry-After) before trying again after a 503: the same in
# every answer of the stage, the proxy's own 503s included.
RETRY_AFTER_SECONDS = "5"


class ShopError(Exception):
    status = 400
    code = "shop_error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details


class ValidationFailed(ShopError):
    """Well-formed input that breaks a rule only the domain knows (e.g. an unknown product)."""

    status = 400
    code = "validation_error"

    def __init__(self, field: str, reason: str):
        super().__init__("The request is not valid.")
        self.fields = {field: [reason]}


class NotFound(ShopError):
    status = 404
    code = "not_found"
    message = "Not found."


class PaymentDeclined(ShopError):
    status = 402
    code = "payment_declined"
    message = "The payment provider declined the charge."


class OutOfStock(ShopError):
    status = 409
    code = "out_of_stock"
    message = "Not enough stock for this order."

    def __init__(self, shortages: list[dict[str, int]]):
        super().__init__(details={"shortages": shortages})


class CartClosed(ShopError):
    status = 409
    code = "cart_closed"
    message = "This cart was already checked out."


class InvalidState(ShopError):
    status = 409
    code = "invalid_state"
    message = "The order is not in a state that allows this."


class IdempotencyKeyReused(ShopError):
    status = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request body."


class ServiceUnavailable(ShopError):
    status = 503
    code = "service_unavailable"
    message = "A dependency is unavailable; try again shortly."
