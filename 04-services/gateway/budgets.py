"""One time budget per public request, for every gRPC call made for it (chassis.deadlines)."""

from chassis import deadlines
from django.conf import settings


class DeadlineMiddleware:
    """One time budget per public request (chassis.deadlines): settings.SHOP_REQUEST_BUDGET
    seconds, or the setting a view names in its `budget_setting` (the checkout and the
    cancellation run a saga of several calls: SHOP_CHECKOUT_BUDGET). Every gRPC call made
    for the request gets what is left of it, so the request is answered within its budget
    however deep a slow service sits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = deadlines.start(settings.SHOP_REQUEST_BUDGET)
        try:
            return self.get_response(request)
        finally:
            deadlines.end(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "view_class", None)  # set by as_view()
        setting = getattr(view_class, "budget_setting", None)
        if setting:
            deadlines.start(getattr(settings, setting))  # ended with the request's own token
