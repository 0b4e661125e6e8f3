"""Root URLs: the API under /api/; every other path is a JSON 404."""

from django.urls import include, path

urlpatterns = [path("api/", include("shop.api.urls"))]

handler400 = "shop.api.errors.handler400"
handler403 = "shop.api.errors.handler403"
handler404 = "shop.api.errors.handler404"
handler500 = "shop.api.errors.handler500"
