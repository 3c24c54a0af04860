"""How ingestion is doing: a health endpoint for load balancers and Prometheus metrics."""

import hmac
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Min
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dialogs.models import Dialog, EnrichmentState

from .models import RawEvent, TelephonyChannel


def backlog():
    """Events stored but not processed yet, and the age in seconds of the oldest of them."""
    queued = RawEvent.objects.filter(available_at__isnull=False)
    summary = queued.aggregate(count=Count("id"), oldest=Min("received_at"))
    oldest = summary["oldest"]
    age = (timezone.now() - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
    return summary["count"], max(age, 0.0)


def backlog_alert():
    """A sentence for administrators when processing lags behind, else None."""
    try:
        pending, age = backlog()
    except DatabaseError:
        return "The database cannot be reached."
    if age > settings.EVENT_AGE_ALERT_SECONDS:
        return (
            f"{pending} webhook events wait to be processed; the oldest has waited {age / 60:.0f} minutes. "
            "Check that the event worker (manage.py process_events) is running."
        )
    return None


@require_GET
def health(request):
    """200 while this node can accept webhooks (its database answers); the backlog is reported, not judged,
    since a slow worker is no reason to take a web node out of the load balancer."""
    try:
        pending, age = backlog()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    alert = age > settings.EVENT_AGE_ALERT_SECONDS
    return JsonResponse(
        {
            "status": "degraded" if alert else "ok",
            "database": "ok",
            "pending_events": pending,
            "oldest_pending_event_age_seconds": round(age, 1),
            "backlog_alert": alert,
        }
    )


def metrics_refusal(request):
    """Why this request may not read the metrics (they name every tenant's channels), or None."""
    if settings.METRICS_PUBLIC or has_metrics_token(request) or request.user.is_staff:
        return None
    if request.user.is_authenticated:
        return HttpResponse("metrics are for staff or the metrics token\n", status=403, content_type="text/plain")
    return HttpResponse(
        "metrics need Authorization: Bearer <METRICS_TOKEN> or a staff login\n", status=401, content_type="text/plain"
    )


def has_metrics_token(request):
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN
    return bool(expected) and scheme == "Bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


@require_GET
def metrics(request):
    if refused := metrics_refusal(request):
        return refused
    lines = [
        "# HELP connective_webhook_events_total Webhook deliveries stored, by channel and processing state.",
        "# TYPE connective_webhook_events_total counter",
    ]
    names = dict(TelephonyChannel.objects.values_list("pk", "name"))
    counts = RawEvent.objects.order_by().values_list("channel_id", "state").annotate(n=Count("id"))
    for channel_id, state, count in counts:
        labels = f'channel="{channel_id}",channel_name="{escape_label(names.get(channel_id, ""))}",state="{state}"'
        lines.append(f"connective_webhook_events_total{{{labels}}} {count}")
    pending, age = backlog()
    enriching = Dialog.objects.filter(enrichment_state=EnrichmentState.PENDING).count()
    lines += [
        "# HELP connective_pending_events Webhook events stored and not processed yet.",
        "# TYPE connective_pending_events gauge",
        f"connective_pending_events {pending}",
        "# HELP connective_oldest_pending_event_age_seconds Age of the oldest event not processed yet.",
        "# TYPE connective_oldest_pending_event_age_seconds gauge",
        f"connective_oldest_pending_event_age_seconds {age:.3f}",
        "# HELP connective_dialogs_pending_enrichment Completed calls waiting for their enrich action.",
        "# TYPE connective_dialogs_pending_enrichment gauge",
        f"connective_dialogs_pending_enrichment {enriching}",
        "# HELP connective_database_vendor The database in use.",
        "# TYPE connective_database_vendor gauge",
        f'connective_database_vendor{{vendor="{connection.vendor}"}} 1',
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


def escape_label(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
