from django.contrib import admin
from django.urls import include, path

from channels_app import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("webhooks/", include("channels_app.urls")),
    path("health/", health.health, name="health"),
    path("metrics/", health.metrics, name="metrics"),
]
