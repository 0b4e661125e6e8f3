"""One time budget per public request, carried through every hop that serves it.

The gateway starts the clock (`budget(seconds)`) when a request comes in; every gRPC call made
on its behalf gets what is left of that budget, less a margin (`timeout_for`), as its gRPC
deadline. The service called reads that deadline back from its call (`from_call`, in the
chassis's `rpc` wrapper: `context.time_remaining()`) and its own calls get what is left of
it, less the margin again. So a request costs at most its budget, however many hops deep
the slow service is (each hop with its own deadline would cost hops × deadline), and each hop
gives up a margin before its caller does: the answer that comes back up is that hop's own
"the payments service did not answer", not a bare deadline from the top.

A call with no time left is not made: `timeout_for` raises ServiceUnavailable at once.
Outside any request (the saga recovery, a management command), a call gets
settings.SHOP_GRPC_TIMEOUT of its own.
"""

import contextlib
import contextvars
import time
from collections.abc import Iterator

from django.conf import settings

from chassis.errors import ServiceUnavailable

# When the current request must be answered, on time.monotonic()'s clock; None: no budget.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


class OutOfTime(ServiceUnavailable):
    """A call not made because the request's budget is spent. It names no failed service:
    whatever took the time failed first, and that is the error worth reporting."""


def start(seconds: float | None) -> contextvars.Token:
    """Give what follows `seconds` from now (None: no budget); `end(token)` takes it back."""
    return _deadline.set(None if seconds is None else time.monotonic() + seconds)


def end(token: contextvars.Token) -> None:
    _deadline.reset(token)


@contextlib.contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Everything inside shares `seconds` from now (None: no budget, each call its own)."""
    token = start(seconds)
    try:
        yield
    finally:
        end(token)


def from_call(time_remaining: float | None):
    """`budget` of what the caller gave this call (a gRPC servicer's
    `context.time_remaining()`; None when the caller set no deadline)."""
    return budget(time_remaining)


def remaining() -> float | None:
    """Seconds left of the current budget (negative when spent); None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def timeout_for(service: str, *, cap: float | None = None) -> float:
    """The deadline (seconds) of a call to `service` made now: what is left of the budget less
    settings.SHOP_GRPC_DEADLINE_MARGIN, at most `cap`; without a budget, `cap` or
    settings.SHOP_GRPC_TIMEOUT. Raises OutOfTime (a ServiceUnavailable) when nothing is left:
    a call that cannot finish in time is not made."""
    left = remaining()
    if left is None:
        return cap or settings.SHOP_GRPC_TIMEOUT
    timeout = left - settings.SHOP_GRPC_DEADLINE_MARGIN
    if timeout <= 0:
        raise OutOfTime(f"The request ran out of time before it could call the {service} service.")
    return min(timeout, cap) if cap else timeout
