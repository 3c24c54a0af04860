from django.conf import settings
from django.urls import reverse


def live_panel(request):
    """Where an operator panel page follows the live calls from (templates/panel/live.html)."""
    if not request.path.startswith("/panel/") or not getattr(request.user, "is_authenticated", False):
        return {}
    return {
        "live_config": {
            "stream": reverse("panel-live-stream"),
            "board": reverse("panel-live-board"),
            "poll_ms": int(settings.PANEL_POLL_SECONDS * 1000),
        }
    }
