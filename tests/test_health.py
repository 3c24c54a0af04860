"""Health for load balancers, metrics for Prometheus, and the backlog alarm in the admin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import RawEvent

from .conftest import database_down, fixture, post_event, process_all

pytestmark = pytest.mark.django_db


def test_health_is_ok_and_reports_the_backlog(client, generic):
    post_event(client, generic, fixture("generic_call.json"))

    body = client.get("/health/").json()

    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["pending_events"] == 1 and body["backlog_alert"] is False


def test_an_old_backlog_is_degraded_but_still_200_and_alarms_the_admin(client, admin_client, generic, settings):
    post_event(client, generic, fixture("generic_call.json"))
    RawEvent.objects.update(received_at=timezone.now() - timedelta(seconds=settings.EVENT_AGE_ALERT_SECONDS + 60))

    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["oldest_pending_event_age_seconds"] > 300

    html = admin_client.get("/admin/").content.decode()
    assert "1 webhook events wait to be processed" in html and "process_events" in html

    process_all()
    assert "backlog-alert" not in admin_client.get("/admin/").content.decode()


def test_health_is_503_when_the_database_is_down(client):
    with database_down():
        response = client.get("/health/")
    assert response.status_code == 503


def test_metrics_count_events_per_channel_and_state(client, generic, settings):
    post_event(client, generic, fixture("generic_call.json"))
    post_event(client, generic, fixture("generic_call.json"))
    post_event(client, generic, "{broken")
    process_all()

    text = client.get("/metrics/").content.decode()

    labels = f'channel="{generic.pk}",channel_name="{generic.name}"'
    assert f'connective_webhook_events_total{{{labels},state="processed"}} 1' in text
    assert f'connective_webhook_events_total{{{labels},state="duplicate"}} 1' in text
    assert f'connective_webhook_events_total{{{labels},state="rejected"}} 1' in text
    assert "connective_pending_events 0" in text


def test_metrics_can_require_a_token(client, settings):
    settings.METRICS_TOKEN = "m-secret"
    assert client.get("/metrics/").status_code == 401
    assert client.get("/metrics/", headers={"Authorization": "Bearer m-secret"}).status_code == 200
