"""The gateway's URLs: the public API under /api/ (API.md); every other path is a JSON 404."""

from chassis.metrics import metrics_view
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views
from .web import IdConverter

register_converter(IdConverter, "id")

api = [
    path("", views.ApiRootApi.as_view()),
    path("health/", views.HealthApi.as_view()),
    path("health/ready/", views.ReadinessApi.as_view()),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema")),
    path("auth/token/", views.TokenApi.as_view()),
    path("products/", views.ProductCollectionApi.as_view()),
    path("products/<id:product_id>/", views.ProductDetailApi.as_view()),
    path("inventory/<id:product_id>/", views.StockDetailApi.as_view()),
    path("inventory/<id:product_id>/restock/", views.StockRestockApi.as_view()),
    path("carts/", views.CartCreateApi.as_view()),
    path("carts/<uuid:cart_id>/", views.CartDetailApi.as_view()),
    path("carts/<uuid:cart_id>/items/", views.CartItemAddApi.as_view()),
    path("carts/<uuid:cart_id>/items/<id:product_id>/", views.CartItemApi.as_view()),
    path("orders/", views.OrderCreateApi.as_view()),
    path("orders/<uuid:order_id>/", views.OrderDetailApi.as_view()),
    path("orders/<uuid:order_id>/cancel/", views.OrderCancelApi.as_view()),
]

urlpatterns = [
    path("api/", include(api)),
    path("metrics", metrics_view),  # for Prometheus (docker/prometheus.yml), not for the public
]

handler400 = "gateway.http_errors.handler400"
handler403 = "gateway.http_errors.handler403"
handler404 = "gateway.http_errors.handler404"
handler500 = "gateway.http_errors.handler500"
