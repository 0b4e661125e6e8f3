"""Root URLs: the API under /api/; every other path is a JSON 404."""

from django.urls import include, path

from config.metrics import metrics_view

urlpatterns = [
    path("api/", include("shop.api.urls")),
    path("metrics", metrics_view),  # for Prometheus (docker/prometheus.yml), not for the public
]

handler400 = "shop.api.errors.handler400"
handler403 = "shop.api.errors.handler403"
handler404 = "shop.api.errors.handler404"
handler500 = "shop.api.errors.handler500"
