"""The base of every domain event: a past-tense fact with an id, a time and a version.

An event travels as a JSON envelope: `{"event_id", "event_type", "version", "occurred_at",
"aggregate_id", "data"}`. The envelope is written to the outbox in the transaction that made
the fact true, and published as it is.
"""

import abc
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.utils import timezone


@dataclass(frozen=True, kw_only=True)
class Event(abc.ABC):
    """Subclasses set `event_type` (the routing key, e.g. "order.confirmed") and implement
    `aggregate_id` and `data`; consumers rebuild them with the subclass's `from_envelope`."""

    event_type: ClassVar[str]
    version: ClassVar[int] = 1

    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=timezone.now)

    @property
    @abc.abstractmethod
    def aggregate_id(self) -> str:
        """The id of the thing the event is about: events of one aggregate keep their order."""

    @abc.abstractmethod
    def data(self) -> dict[str, Any]:
        """The event's own fields, as JSON."""

    def envelope(self) -> dict[str, Any]:
        """The JSON document stored in the outbox and published to the broker."""
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "aggregate_id": self.aggregate_id,
            "data": self.data(),
        }
