"""Webhook enrichment through the real endpoint, the event worker and the django-q2 task, against a real
HTTP server on 127.0.0.1 standing in for the external system."""

import pytest

from actions.enrichment import requeue_stale_enrichments
from actions.models import Action, EnrichmentRun
from dialogs.models import Dialog, Topic

from .conftest import fixture, post_event, process_all, run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def crm_is_reachable(settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def generic(make_channel):
    """The seed's channel without recordings, so a call marked for transcription stays marked (the
    transcription itself is tested with real audio elsewhere)."""
    channel = make_channel("generic")
    channel.advanced_config["recordings"]["enabled"] = False
    channel.save()
    return channel


@pytest.fixture
def topic():
    return Topic.objects.create(alias="online", name="Online orders")


@pytest.fixture
def admin_user(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    assert user.pk == 1, "the default operator id is 1"
    return user


def crm_action(server, outputs=None, **parameters):
    return Action.objects.create(
        name="CRM lookup",
        kind="http",
        parameters={
            "method": "POST",
            "url": server.url("/lookup"),
            "body": {
                "phone": "{{ telephony.caller_number }}",
                "call": "{{ telephony.call_id }}",
                "seconds": "{{ telephony.duration }}",
            },
            "auth": {"type": "bearer"},
            "timeout": 1,
            "retries": 1,
            "outputs": outputs
            or {"operator_email": "manager.email", "topic_alias": "topic", "customer": "customer.name"},
            **parameters,
        },
        secrets={"token": "crm-secret-token"},
    )


def call_through_the_pipeline(client, channel):
    assert post_event(client, channel, fixture("generic_call.json")).status_code == 202
    process_all()
    dialog = Dialog.objects.get()
    assert dialog.ready_at is None and dialog.enrichment_state == "pending", "hidden until enriched"
    run_queued_tasks()
    dialog.refresh_from_db()
    return dialog


def feed(dialog):
    return list(dialog.messages.values_list("text", flat=True))


def test_a_successful_enrichment_assigns_the_operator_and_topic_and_fills_extra(
    client, generic, operator, topic, http_server
):
    http_server.route(
        "POST",
        "/lookup",
        json={"manager": {"email": "OPERATOR@example.com"}, "topic": "online", "customer": {"name": "Iryna"}},
    )
    generic.enrich_action = crm_action(http_server)
    generic.auto_transcription = True
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.operator == operator and dialog.topic == topic
    assert dialog.extra["customer"] == "Iryna"
    assert (dialog.enrichment_state, dialog.ready_at is not None, dialog.awaiting_transcription) == ("done", True, True)
    sent = http_server.requests[0]
    assert sent.json() == {"phone": "+380501234567", "call": "c-1001", "seconds": 62}
    assert sent.headers["Authorization"] == "Bearer crm-secret-token"
    run = EnrichmentRun.objects.get()
    assert (run.outcome, run.action_name, run.error) == ("success", "CRM lookup", "")
    assert "crm-secret-token" not in str(run.request), "secrets are masked in the record"
    assert run.duration >= 0


def test_enrichment_outputs_survive_a_late_event(client, generic, operator, topic, http_server):
    http_server.route(
        "POST",
        "/lookup",
        json={"manager": {"email": "operator@example.com"}, "topic": "online", "customer": {"name": "Iryna"}},
    )
    generic.enrich_action = crm_action(http_server)
    generic.save()
    call_through_the_pipeline(client, generic)

    post_event(
        client,
        generic,
        {**fixture("generic_call.json"), "transcript": "A late transcript.", "manager_id": "x@y.example"},
    )
    process_all()

    dialog = Dialog.objects.get()
    assert dialog.transcript == "A late transcript."
    assert (dialog.operator, dialog.topic, dialog.extra["customer"]) == (operator, topic, "Iryna")
    assert run_queued_tasks() == 0 and EnrichmentRun.objects.count() == 1, "enriched once"


def test_a_500_then_success_is_retried(client, generic, operator, http_server):
    http_server.route("POST", "/lookup", status=[500, 200], json={"manager": {"email": "operator@example.com"}})
    generic.enrich_action = crm_action(http_server, outputs={"operator_email": "manager.email"})
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.operator == operator and dialog.enrichment_state == "done"
    assert len(http_server.requests) == 2


@pytest.mark.parametrize(
    "route, reason",
    [
        ({"status": 500, "json": {"error": "down"}}, "enrichment failed: the external system answered HTTP 500"),
        ({"status": 200, "body": "<html>oops</html>"}, "enrichment failed: the answer is not valid JSON"),
        (
            {"status": 200, "json": {"manager": {}}},
            "enrichment failed: the answer has no operator_email (at 'manager.email')",
        ),
        ({"status": 200, "json": {}, "delay": 1.5}, "enrichment failed: no answer from 127.0.0.1 within 1 s"),
    ],
)
def test_a_failed_enrichment_with_skip_creates_the_dialog_unassigned_with_the_reason(
    client, generic, operator, http_server, route, reason
):
    http_server.route("POST", "/lookup", **route)
    generic.enrich_action = crm_action(http_server, outputs={"operator_email": "manager.email"}, retries=0)
    generic.auto_transcription = True
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.ready_at is not None, "the call is not lost"
    assert dialog.enrichment_state == "failed"
    assert dialog.operator is None, "skip: not even the webhook's operator is assigned"
    assert not dialog.awaiting_transcription
    assert reason in feed(dialog)
    assert EnrichmentRun.objects.get().outcome == "failed"


def test_a_500_on_every_try_fails_after_the_retries(client, generic, http_server):
    http_server.route("POST", "/lookup", status=500)
    generic.enrich_action = crm_action(http_server, retries=2)
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.enrichment_state == "failed" and len(http_server.requests) == 3


def test_a_refused_connection_is_a_failure_in_the_feed(client, generic):
    generic.enrich_action = Action.objects.create(
        name="Dead CRM", kind="http", parameters={"url": "http://127.0.0.1:9/x", "retries": 0}
    )
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert any(text.startswith("enrichment failed: cannot connect to 127.0.0.1") for text in feed(dialog))


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_a_failed_enrichment_with_assign_admin_assigns_the_default_operator_and_wants_transcription(
    client, generic, admin_user, http_server
):
    http_server.route("POST", "/lookup", status=500)
    generic.enrich_action = crm_action(http_server, retries=0)
    generic.enrich_error_action = "assign_admin"
    generic.auto_transcription = True
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.operator == admin_user
    assert dialog.awaiting_transcription
    assert "enrichment failed: the external system answered HTTP 500" in feed(dialog)


def test_assign_admin_follows_the_default_operator_setting(client, generic, django_user_model, http_server, settings):
    other = django_user_model.objects.create_user("lead", "lead@example.com", "pw-lead-123")
    settings.TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID = other.pk
    http_server.route("POST", "/lookup", status=500)
    generic.enrich_action = crm_action(http_server, retries=0)
    generic.enrich_error_action = "assign_admin"
    generic.save()

    assert call_through_the_pipeline(client, generic).operator == other


@pytest.mark.parametrize("active", [True, False])
def test_an_unknown_or_inactive_operator_email_leaves_the_dialog_unassigned_and_says_why(
    client, generic, operator, http_server, active
):
    operator.is_active = active
    operator.save()
    email = "operator@example.com" if not active else "nobody@example.com"
    http_server.route("POST", "/lookup", json={"manager": {"email": email}})
    generic.enrich_action = crm_action(http_server, outputs={"operator_email": "manager.email"})
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.operator is None and dialog.enrichment_state == "done"
    assert (
        f"Enrichment named the operator '{email}', but no active user has that email; the dialog is left unassigned."
        in feed(dialog)
    )


def test_an_unknown_topic_alias_is_a_service_message(client, generic, topic, http_server):
    http_server.route("POST", "/lookup", json={"topic": "Online"})
    generic.enrich_action = crm_action(http_server, outputs={"topic_alias": "topic"})
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.topic is None, "aliases match exactly"
    assert "Enrichment named the topic 'Online', but no topic has that alias." in feed(dialog)


def test_an_action_pointed_at_a_private_address_is_refused_with_a_clear_error(client, generic, http_server, settings):
    settings.ACTIONS_ALLOWED_HOSTS = []
    http_server.route("POST", "/lookup", json={})
    generic.enrich_action = crm_action(http_server, retries=0)
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert http_server.requests == []
    assert any(
        "refused to call '127.0.0.1': it resolves to 127.0.0.1, a private or local address" in text
        for text in feed(dialog)
    )


def test_a_template_cannot_reach_server_internals(client, generic, http_server):
    http_server.route("POST", "/lookup", json={})
    generic.enrich_action = crm_action(http_server, body={"leak": "{{ telephony.__class__.__init__.__globals__ }}"})
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert http_server.requests == []
    assert (
        "enrichment failed: template: '{{ telephony.__class__.__init__.__globals__ }}': names starting with '_' are not allowed"
        in feed(dialog)
    )


def test_rules_route_calls_by_topic_without_an_external_system(client, generic, topic):
    Topic.objects.create(alias="offline", name="Offline")
    generic.enrich_action = Action.objects.create(
        name="Route by line",
        kind="rules",
        parameters={
            "rules": [
                {
                    "when": [
                        {"field": "telephony.callee_number", "prefix": "+38044"},
                        {"field": "telephony.direction", "equals": "in"},
                    ],
                    "set": {"topic_alias": "online"},
                },
                {"when": [{"field": "telephony.status", "in": ["missed", "busy"]}], "set": {"topic_alias": "offline"}},
            ],
            "otherwise": {"topic_alias": "offline"},
        },
    )
    generic.save()

    dialog = call_through_the_pipeline(client, generic)

    assert dialog.topic == topic and dialog.enrichment_state == "done"


def test_without_an_enrich_action_the_call_comes_from_webhook_data_alone(client, generic, operator):
    generic.auto_transcription = True
    generic.save()
    post_event(client, generic, fixture("generic_call.json"))
    process_all()

    dialog = Dialog.objects.get()
    assert (dialog.enrichment_state, dialog.operator, dialog.awaiting_transcription) == ("none", operator, True)
    assert dialog.ready_at is not None
    assert run_queued_tasks() == 0


def test_an_enrichment_task_delivered_twice_runs_the_action_once(client, generic, http_server):
    http_server.route(
        "POST", "/lookup", json={"manager": {"email": "a@b.example"}, "topic": "x", "customer": {"name": "c"}}
    )
    generic.enrich_action = crm_action(http_server)
    generic.save()
    dialog = call_through_the_pipeline(client, generic)

    from actions.enrichment import enrich_dialog

    assert enrich_dialog(dialog.pk) == "not pending"
    assert len(http_server.requests) == 1


def test_a_lost_enrichment_task_is_queued_again_by_the_sweep(client, generic, http_server, settings):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ

    http_server.route(
        "POST", "/lookup", json={"manager": {"email": "a@b.example"}, "topic": "x", "customer": {"name": "c"}}
    )
    generic.enrich_action = crm_action(http_server)
    generic.save()
    post_event(client, generic, fixture("generic_call.json"))
    process_all()
    OrmQ.objects.all().delete()  # the broker lost it

    later = timezone.now() + timedelta(seconds=settings.ENRICHMENT_REQUEUE_AFTER + 1)
    assert requeue_stale_enrichments() == 0, "not stale yet"
    assert requeue_stale_enrichments(now=later) == 1
    run_queued_tasks()

    assert Dialog.objects.get().enrichment_state == "done"


def test_the_whole_way_over_http_with_a_real_worker_and_task_cluster(
    live_server, generic, operator, topic, http_server, worker_process, task_cluster
):
    import requests

    from .conftest import wait_until

    http_server.route(
        "POST",
        "/lookup",
        json={"manager": {"email": "operator@example.com"}, "topic": "online", "customer": {"name": "Iryna"}},
    )
    generic.enrich_action = crm_action(http_server)
    generic.save()

    response = requests.post(
        f"{live_server.url}/webhooks/telephony/{generic.webhook_id}/?token={generic.token}",
        json=fixture("generic_call.json"),
        timeout=10,
    )
    assert response.status_code == 202

    wait_until(
        lambda: Dialog.objects.filter(ready_at__isnull=False).exists(), timeout=40, message="the enriched dialog"
    )
    dialog = Dialog.objects.get()
    assert (dialog.operator, dialog.topic, dialog.enrichment_state) == (operator, topic, "done")
