"""What enrichment may never pass on or keep: the channel's body-token secret (it authenticates the
provider, it is no call data) and the action's own secrets, against a real CRM server on 127.0.0.1."""

import json

import pytest

from actions.models import Action, EnrichmentRun
from channels_app.models import RawEvent
from dialogs.models import Dialog

from .conftest import fixture, process_all, run_queued_tasks, webhook_path

BODY_SECRET = "body-secret-4711"


@pytest.fixture
def crm(http_server, settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/lookup", json={"topic": "none"})
    return http_server


@pytest.fixture
def body_token_channel(make_channel, crm):
    """A channel whose provider authenticates with a token inside the body (Aircall's way), an extra field
    mapped from that very token, and an enrich action that forwards everything it can read."""
    channel = make_channel("generic")
    channel.advanced_config["authentication"] = {"scheme": "body_token", "path": "token"}
    channel.advanced_config["field_mapping"]["provider_token"] = "token"
    channel.set_signature_secret(BODY_SECRET)
    channel.enrich_action = Action.objects.create(
        name="Forward all",
        kind="http",
        parameters={
            "method": "POST",
            "url": crm.url("/lookup"),
            "retries": 0,
            "headers": {"X-Token": "{{ payloads.0.token }}", "X-Extra": "{{ telephony.provider_token }}"},
            "body": {"payloads": "{{ payloads }}", "telephony": "{{ telephony }}"},
        },
    )
    channel.save()
    return channel


def deliver(client, channel):
    body = json.dumps({**fixture("generic_call.json"), "token": BODY_SECRET})
    response = client.generic("POST", webhook_path(channel, False), body, content_type="application/json")
    assert response.status_code == 202, response.content


def everything_sent(server):
    return " ".join(f"{sent.path} {json.dumps(sent.headers)} {sent.body.decode()}" for sent in server.requests)


@pytest.mark.django_db(transaction=True)
def test_the_body_token_never_reaches_the_enrichment_endpoint_nor_the_stored_run(client, body_token_channel, crm):
    """Waits for the masked RawEvent.payloads() (the lead's change in channels_app/models.py)."""
    deliver(client, body_token_channel)
    process_all()
    run_queued_tasks()

    assert len(crm.requests) == 1
    assert crm.requests[0].json()["telephony"]["call_id"] == "c-1001", "the call itself is forwarded"
    assert BODY_SECRET not in everything_sent(crm)
    assert BODY_SECRET not in json.dumps(EnrichmentRun.objects.get().request)
    assert BODY_SECRET not in json.dumps(Dialog.objects.get().call_state())


@pytest.mark.django_db
def test_the_action_test_on_a_stored_delivery_shows_and_sends_no_body_token(
    admin_client, client, body_token_channel, crm
):
    """Waits for the masked RawEvent.payloads() (the lead's change in channels_app/models.py)."""
    deliver(client, body_token_channel)
    action = body_token_channel.enrich_action

    html = admin_client.post(
        f"/admin/actions/action/{action.pk}/test/", {"state": "", "raw_event": RawEvent.objects.get().pk}
    ).content.decode()

    assert "Success" in html and "c-1001" in html
    assert BODY_SECRET not in html
    assert BODY_SECRET not in everything_sent(crm)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "auth, secrets, sent_header, sent_value",
    [
        ({"type": "bearer"}, {"token": "t1"}, "Authorization", "Bearer t1"),
        ({"type": "header", "header": "X-Api-Key"}, {"token": "k"}, "X-Api-Key", "k"),
        ({"type": "basic", "username": "crm"}, {"password": "pw"}, "Authorization", "Basic Y3JtOnB3"),
    ],
)
def test_a_stored_run_masks_the_auth_however_short_the_secret(
    client, make_channel, crm, auth, secrets, sent_header, sent_value
):
    channel = make_channel("generic")
    channel.enrich_action = Action.objects.create(
        name="CRM",
        kind="http",
        secrets=secrets,
        parameters={
            "method": "POST",
            "url": crm.url("/lookup"),
            "retries": 0,
            "auth": auth,
            "headers": {"X-Also": "id {{ secrets.token }}{{ secrets.password }}"},
        },
    )
    channel.save()
    response = client.generic(
        "POST", webhook_path(channel), json.dumps(fixture("generic_call.json")), content_type="application/json"
    )
    assert response.status_code == 202
    process_all()
    run_queued_tasks()

    assert crm.requests[0].headers[sent_header] == sent_value
    stored = EnrichmentRun.objects.get().request["headers"]
    assert stored[sent_header].endswith("••••••") and stored["X-Also"] == "id ••••••"
    assert all(secret not in value for secret in secrets.values() for value in stored.values())
