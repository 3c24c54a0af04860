from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from channels_app import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("webhooks/", include("channels_app.urls")),
    path("panel/", include("dialogs.urls")),
    path("api/", include("dialogs.api_urls")),
    path("", RedirectView.as_view(url="/panel/", permanent=False)),
    path("health/", health.health, name="health"),
    path("metrics/", health.metrics, name="metrics"),
]
