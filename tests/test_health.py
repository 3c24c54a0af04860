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


def test_metrics_count_events_per_channel_and_state(client, admin_client, generic, settings):
    post_event(client, generic, fixture("generic_call.json"))
    post_event(client, generic, fixture("generic_call.json"))
    post_event(client, generic, "{broken")
    process_all()

    text = admin_client.get("/metrics/").content.decode()

    labels = f'channel="{generic.pk}",channel_name="{generic.name}"'
    assert f'connective_webhook_events_total{{{labels},state="processed"}} 1' in text
    assert f'connective_webhook_events_total{{{labels},state="duplicate"}} 1' in text
    assert f'connective_webhook_events_total{{{labels},state="rejected"}} 1' in text
    assert "connective_pending_events 0" in text


def test_metrics_can_require_a_token(client, settings):
    settings.METRICS_TOKEN = "m-secret"
    assert client.get("/metrics/").status_code == 401
    assert client.get("/metrics/", headers={"Authorization": "Bearer m-secret"}).status_code == 200
    assert client.get("/metrics/", headers={"Authorization": "Bearer m-secreT"}).status_code == 401


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer ", "Basic Og=="])
def test_metrics_are_not_public_by_default_and_name_no_channel(client, generic, settings, authorization):
    assert settings.METRICS_TOKEN == "" and not settings.METRICS_PUBLIC
    post_event(client, generic, fixture("generic_call.json"))
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get("/metrics/", headers=headers)

    assert response.status_code == 401
    assert generic.name not in response.content.decode() and "connective_" not in response.content.decode()


def test_staff_read_the_metrics_with_their_login_and_other_users_may_not(client, generic, django_user_model, settings):
    settings.METRICS_TOKEN = "m-secret"
    operator = django_user_model.objects.create_user("olena", "olena@example.com", "pw-olena-123")
    staff = django_user_model.objects.create_user("root", "root@example.com", "pw-root-123", is_staff=True)

    client.force_login(operator)
    assert client.get("/metrics/").status_code == 403
    client.force_login(staff)
    assert client.get("/metrics/").status_code == 200


def test_metrics_public_makes_them_public(client, generic, settings):
    settings.METRICS_PUBLIC = True

    response = client.get("/metrics/")

    assert response.status_code == 200 and "connective_pending_events" in response.content.decode()
