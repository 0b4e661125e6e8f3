"""The orders service's own metric: its checkout sagas by state, read when Prometheus asks
(the saga-recovery process serves it, beside the sagas it finishes)."""

from collections.abc import Iterable

from chassis.metrics import DatabaseCollector
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from orders.models import CheckoutSaga


class SagaStates(DatabaseCollector):
    """Every state, 0 included: a graph of `compensating` shows when it starts, not just once
    it is non-zero."""

    def read(self) -> Iterable[GaugeMetricFamily]:
        counts = dict(CheckoutSaga.objects.values_list("state").annotate(count=Count("id")))
        family = GaugeMetricFamily("shop_sagas", "Checkout sagas by state", labels=["state"])
        for state in CheckoutSaga.State.values:
            family.add_metric([state], counts.get(state, 0))
        yield family
