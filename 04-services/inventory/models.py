"""The inventory service's tables: stock levels, reservations and the restocks already done.

Product ids are the catalog's, kept as plain integers: the catalog lives in another service
and another database, so there is nothing a foreign key could point at.
"""

from django.db import models


class StockLevel(models.Model):
    """How many units of a product can still be reserved; the row a reservation locks.

    Reserved units are taken off `available` at once (not when the sale is committed), so
    `available` is always what another checkout may have: no query has to add up the
    reservations in flight.
    """

    product_id = models.PositiveBigIntegerField(unique=True)
    available = models.PositiveBigIntegerField(default=0)  # int64, as in the .proto

    class Meta:
        constraints = [
            # PositiveBigIntegerField says it too; named here, because this is the promise
            # the row locks keep: stock is never oversold.
            models.CheckConstraint(
                condition=models.Q(available__gte=0), name="stock_never_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.available}"


class Reservation(models.Model):
    """Units set aside for one caller's order, under the id the caller chose.

    A tombstone is a RELEASED reservation with no lines and no expiry: what a Release of an
    id inventory had never seen leaves behind, so that the Reserve it was meant to undo,
    should it arrive late, finds the id taken and holds nothing (stock.release).
    """

    class Status(models.TextChoices):
        HELD = "held"  # the units are off the shelf, not sold
        COMMITTED = "committed"  # sold
        RELEASED = "released"  # given back before the sale (failed checkout, expiry)
        RETURNED = "returned"  # given back after the sale (cancelled order)

    reservation_id = models.CharField(max_length=128, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.HELD)
    expires_at = models.DateTimeField(null=True, blank=True)  # None: a tombstone
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The expiry sweep asks one question, "which held reservations are past their
            # time": a partial index keeps it cheap however many finished ones pile up.
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status="held"),
                name="reservation_held_expiry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id} ({self.status})"


class ReservationLine(models.Model):
    """The units of one product a reservation holds (lines of the same product are summed)."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    product_id = models.PositiveBigIntegerField()
    quantity = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "product_id"], name="one_line_per_product"
            ),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="line_quantity"),
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id}: {self.quantity} x {self.product_id}"


class RestockRecord(models.Model):
    """A restock done under an idempotency key: the same key again adds nothing.

    A restock without a key is not recorded (and not idempotent): the key is the caller's
    promise that two requests carrying it are one restock, sent twice.
    """

    idempotency_key = models.CharField(max_length=255, unique=True)
    product_id = models.PositiveBigIntegerField()
    quantity = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.idempotency_key}: +{self.quantity} x {self.product_id}"
