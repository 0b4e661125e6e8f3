"""Root URLs: the API under /api/; every other path is a JSON 404."""

from django.urls import include, path

urlpatterns = [path("api/", include("edge.urls"))]

handler400 = "kernel.http.handler400"
handler403 = "kernel.http.handler403"
handler404 = "kernel.http.handler404"
handler500 = "kernel.http.handler500"
