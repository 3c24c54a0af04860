from .health import backlog_alert as current_backlog_alert


def backlog_alert(request):
    """On admin pages, tell staff when webhook processing lags behind."""
    if not request.path.startswith("/admin/") or not getattr(request.user, "is_staff", False):
        return {}
    return {"backlog_alert": current_backlog_alert()}
