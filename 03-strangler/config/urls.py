"""Root URLs: the API under /api/; every other path is a JSON 404."""

from django.urls import include, path

urlpatterns = [path("api/", include("edge.urls"))]

handler400 = "edge.errors.handler400"
handler403 = "edge.errors.handler403"
handler404 = "edge.errors.handler404"
handler500 = "edge.errors.handler500"
