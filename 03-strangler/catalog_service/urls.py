"""The catalog service's URLs: the catalog reads of API.md, and health. Anything else is the
same JSON 404 as the monolith's."""

from django.urls import path, register_converter
from kernel.http import IdConverter
from kernel.metrics import metrics_view

from . import views

register_converter(IdConverter, "id")

urlpatterns = [
    path("api/health/", views.HealthApi.as_view()),
    path("api/health/ready/", views.ReadinessApi.as_view()),
    path("api/products/", views.ProductListApi.as_view()),
    path("api/products/<id:product_id>/", views.ProductDetailApi.as_view()),
    path("metrics", metrics_view),  # for Prometheus (docker/prometheus.yml), not for the public
]

handler400 = "kernel.http_errors.handler400"
handler403 = "kernel.http_errors.handler403"
handler404 = "kernel.http_errors.handler404"
handler500 = "kernel.http_errors.handler500"
