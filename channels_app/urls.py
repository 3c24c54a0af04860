from django.urls import path

from . import views

urlpatterns = [
    path("telephony/<uuid:webhook_id>/", views.telephony_webhook, name="telephony-webhook"),
]
