"""Request ids: taken from X-Request-ID (or made up), put on every log line and the response.

Stage 03's kernel/middleware.py, carried forward; the id's rules and the log filter are in
chassis/request_ids.py, which every service shares. The time budget of a request has its
middleware in gateway/budgets.py.
"""

from chassis.request_ids import request_id_var, valid_request_id
from django.core.signals import request_finished


class RequestIdMiddleware:
    """Takes X-Request-ID (or makes one up) into chassis.request_ids.request_id_var: every log
    line of this request carries it, and every gRPC call sends it on as metadata, so one id
    follows a request through the gateway and every service it reaches."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = valid_request_id(request.headers.get("X-Request-ID", ""))
        # Not reset on the way out: Django logs a 4xx/5xx ("Not Found: /api/…") after the
        # last middleware has returned. request_finished clears it once the response is sent.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _forget_request_id(**_kwargs) -> None:
    request_id_var.set("-")


request_finished.connect(_forget_request_id, dispatch_uid="shop.request_id")
