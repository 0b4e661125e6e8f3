"""The orders service's tables: carts, orders, and the saga that checks a cart out.

Products are referred to by their catalog id, never by a foreign key (they live in another
service's database). An order line keeps a snapshot of what was bought (sku, name, price
paid), so an order reads without asking the catalog, and reads the same after the catalog
changes.
"""

import uuid

from django.db import models


class Cart(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        CHECKED_OUT = "checked_out"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"cart {self.id} ({self.status})"


class CartItem(models.Model):
    """A product in a cart: the catalog id and a quantity; name and price are read live."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product_id = models.PositiveBigIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product_id"], name="one_line_per_product")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id}"


class Order(models.Model):
    """An order, from the moment its saga starts.

    Callers see only confirmed and cancelled orders. A pending order is a checkout in
    progress; a failed one is a checkout that was undone (out of stock, declined, ...): both
    are kept for the record, as the saga's history, and exist for nobody else.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"
        CANCELLED = "cancelled"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cart = models.ForeignKey(Cart, on_delete=models.PROTECT, related_name="orders")
    email = models.EmailField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total_cents = models.PositiveBigIntegerField()  # 99 units at the top price pass 2**31 cents
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The public API's Idempotency-Key, and a hash of the request it came with. Unique: two
    # requests with one key race on this index, and one of them wins. A failed checkout gives
    # its key up (sets it to NULL), as stages 01-03 did by rolling the key back with it.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            # A cart is checked out once: at most one order of it is pending, confirmed or
            # cancelled (a failed checkout leaves the cart open for another try).
            models.UniqueConstraint(
                fields=["cart"],
                condition=~models.Q(status="failed"),
                name="one_live_order_per_cart",
            )
        ]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    """One product of an order, as it was when the order was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.PositiveBigIntegerField()
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit_price_cents = models.PositiveBigIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku} at {self.unit_price_cents} cents"

    def snapshot(self) -> dict[str, int | str]:
        """What was bought, as the order's view and its events carry it."""
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "unit_price_cents": self.unit_price_cents,
            "quantity": self.quantity,
        }


class CheckoutSaga(models.Model):
    """Where an order's checkout (and later its cancellation) stands, written before and after
    every remote call, so that whoever finds it after a crash knows what may have happened.

    `state` is the direction: running (forward: reserve, charge, commit, confirm),
    compensating (back: release, refund), cancelling (a confirmed order being undone: refund,
    release), or one of the ends. `step` is the step in progress (or next). Every change of
    the two is a compare-and-set on their old values (`sagas.move`): one driver at a time.
    """

    class State(models.TextChoices):
        RUNNING = "running"
        COMPENSATING = "compensating"
        CONFIRMED = "confirmed"
        FAILED = "failed"
        CANCELLING = "cancelling"
        CANCELLED = "cancelled"

    class Step(models.TextChoices):
        RESERVE = "reserve"
        CHARGE = "charge"
        COMMIT = "commit"
        CONFIRM = "confirm"
        RELEASE = "release"
        REFUND = "refund"
        DONE = "done"

    UNFINISHED = (State.RUNNING, State.COMPENSATING, State.CANCELLING)

    # The saga's id is the reservation id it sends to the inventory service.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="saga")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    step = models.CharField(max_length=16, choices=Step.choices, default=Step.RESERVE)
    # Set when the charge step starts, before the call: a saga without one never asked for
    # money. "charge-<order id>": the payments service's idempotency key.
    charge_key = models.CharField(max_length=64, blank=True)
    charge_id = models.CharField(max_length=64, blank=True)  # once the charge is approved
    last_error = models.TextField(blank=True)
    # The W3C trace context of the checkout that started the saga: a recovery that finishes
    # it later links its own trace to that one (telemetry.link_to).
    traceparent = models.CharField(max_length=55, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)  # every move touches it
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The recovery's only question is "which unfinished sagas have not moved for a
            # while": a partial index keeps that cheap however many ended sagas pile up.
            models.Index(
                fields=["updated_at"],
                condition=models.Q(state__in=["running", "compensating", "cancelling"]),
                name="saga_unfinished",
            )
        ]

    def __str__(self) -> str:
        return f"saga {self.id} of order {self.order_id} ({self.state}, {self.step})"

    @property
    def reservation_id(self) -> str:
        return str(self.id)

    @property
    def refund_key(self) -> str:
        return f"refund-{self.order_id}"


class Cancellation(models.Model):
    """A confirmed order's cancellation by choreography (choreography.py): asked for, then
    answered by the inventory (`stock.released`) and the payments service
    (`payment.refunded`), in whichever order they come. Once both have, the order is
    cancelled. The only record of how far such a cancellation got: where to look when one
    stalls (which answer is missing, since when)."""

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="cancellation")
    requested_at = models.DateTimeField(auto_now_add=True)
    stock_released_at = models.DateTimeField(null=True, blank=True)
    payment_refunded_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        state = "completed" if self.completed_at else "waiting"
        return f"cancellation of order {self.order_id} ({state})"
