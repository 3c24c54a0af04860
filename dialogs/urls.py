from django.contrib.auth import views as auth_views
from django.urls import path

from . import stream, views

urlpatterns = [
    path("", views.dialog_list, name="panel"),
    path("new-rows/", views.new_rows, name="panel-new-rows"),
    path("live/stream/", stream.live_stream, name="panel-live-stream"),
    path("live/board/", views.live_board_json, name="panel-live-board"),
    path("dialogs/<int:pk>/", views.dialog_detail, name="panel-dialog"),
    path("dialogs/<int:pk>/caller/", views.dialog_caller, name="panel-caller"),
    path("dialogs/<int:pk>/recording/", views.dialog_recording, name="panel-recording"),
    path("login/", auth_views.LoginView.as_view(template_name="panel/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
