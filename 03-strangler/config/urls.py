"""Root URLs: the API under /api/; every other path is a JSON 404."""

from django.urls import include, path
from kernel.metrics import metrics_view

urlpatterns = [
    path("api/", include("edge.urls")),
    path("metrics", metrics_view),  # for Prometheus (docker/prometheus.yml), not for the public
]

handler400 = "kernel.http_errors.handler400"
handler403 = "kernel.http_errors.handler403"
handler404 = "kernel.http_errors.handler404"
handler500 = "kernel.http_errors.handler500"
