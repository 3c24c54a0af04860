from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from . import api

urlpatterns = [
    path("dialogs/", api.DialogList.as_view(), name="api-dialogs"),
    path("dialogs/<int:pk>/", api.DialogDetail.as_view(), name="api-dialog"),
    path("topics/", api.TopicList.as_view(), name="api-topics"),
    path("channels/", api.ChannelList.as_view(), name="api-channels"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
]
