"""Action Jail in the admin: parameters validated by the kind's schema, write-only secrets, the action test."""

import json
from urllib.parse import parse_qs

import pytest

from actions.models import Action, EnrichmentRun
from actions.templating import render
from channels_app.models import RawEvent
from dialogs.models import Dialog

from .browser import log_in, screenshot
from .conftest import fixture, post_event


def action_form(**fields):
    return {"name": "CRM lookup", "description": "", "kind": "http", "new_secrets": "", **fields}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, parameters, error",
    [
        ("http", {"url": "https://crm.example", "timeout": 60}, "timeout: 60 is greater than the maximum of 30"),
        ("http", {}, "(top level): &#x27;url&#x27; is a required property"),
        (
            "http",
            {"url": "https://crm.example", "auth": {"type": "basic"}},
            "auth.username: basic authentication needs a username",
        ),
        (
            "http",
            {"url": "https://crm.example/{{ telephony.__dict__ }}"},
            "names starting with &#x27;_&#x27; are not allowed",
        ),
        ("http", {"url": "https://crm.example", "method": "DELETE"}, "method: &#x27;DELETE&#x27; is not one of"),
        (
            "rules",
            {"rules": [{"when": [{"field": "telephony.status", "matches": "("}], "set": {}}]},
            "rules.0.when.0.matches: not a regular expression",
        ),
        ("rules", {"rules": [{"when": [{"field": "x", "equals": 1, "in": [1]}], "set": {}}]}, "rules.0.when.0: "),
    ],
)
def test_invalid_parameters_are_refused_with_an_error_naming_the_path(admin_client, kind, parameters, error):
    response = admin_client.post(
        "/admin/actions/action/add/", action_form(kind=kind, parameters=json.dumps(parameters))
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Action.objects.exists()


@pytest.mark.django_db
def test_secrets_are_write_only_and_kept_until_replaced_or_removed(admin_client):
    parameters = json.dumps({"url": "https://crm.example/x", "auth": {"type": "bearer"}})
    admin_client.post(
        "/admin/actions/action/add/",
        action_form(parameters=parameters, new_secrets='{"token": "s3cr3t-value", "other": "x-y-z"}'),
    )
    action = Action.objects.get()
    assert action.secrets == {"token": "s3cr3t-value", "other": "x-y-z"}

    page_html = admin_client.get(f"/admin/actions/action/{action.pk}/change/").content.decode()
    assert "s3cr3t-value" not in page_html
    assert "token = ••••••" in page_html

    admin_client.post(f"/admin/actions/action/{action.pk}/change/", action_form(parameters=parameters))
    action.refresh_from_db()
    assert action.secrets == {"token": "s3cr3t-value", "other": "x-y-z"}, "an empty field keeps them"

    admin_client.post(
        f"/admin/actions/action/{action.pk}/change/",
        action_form(parameters=parameters, new_secrets='{"other": null, "token": "new"}'),
    )
    action.refresh_from_db()
    assert action.secrets == {"token": "new"}


@pytest.fixture
def crm(http_server, settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("GET", "/lookup", json={"manager": {"email": "operator@example.com"}, "topic": "online"})
    return Action.objects.create(
        name="CRM lookup",
        kind="http",
        parameters={
            "url": http_server.url("/lookup"),
            "query": {"phone": "{{ telephony.caller_number }}"},
            "headers": {"X-Api-Key": "{{ secrets.api_key }}"},
            "outputs": {"operator_email": "manager.email", "topic_alias": "topic"},
            "retries": 0,
        },
        secrets={"api_key": "k-123456"},
    )


@pytest.mark.django_db
def test_the_action_test_runs_on_a_pasted_telephony_block_and_shows_what_happened(admin_client, crm, http_server):
    response = admin_client.post(
        f"/admin/actions/action/{crm.pk}/test/", {"state": json.dumps({"caller_number": "+380501234567"})}
    )

    html = response.content.decode()
    assert "Success" in html
    assert "operator@example.com" in html and "online" in html
    assert "HTTP 200" in html
    assert "k-123456" not in html, "secrets are masked in the request shown"
    path, _, query = http_server.requests[0].path.partition("?")
    assert (path, parse_qs(query)) == ("/lookup", {"phone": ["+380501234567"]})
    assert http_server.requests[0].headers["X-Api-Key"] == "k-123456"
    assert not Dialog.objects.exists() and not EnrichmentRun.objects.exists(), "a test saves nothing"


@pytest.mark.django_db
def test_the_action_test_runs_on_a_stored_webhook_event_as_a_real_call_would(
    admin_client, client, crm, generic, http_server
):
    post_event(client, generic, fixture("generic_call.json"))
    event = RawEvent.objects.get()

    response = admin_client.post(f"/admin/actions/action/{crm.pk}/test/", {"state": "", "raw_event": event.pk})

    assert "Success" in response.content.decode()
    assert "phone=%2B380501234567" in http_server.requests[0].path, "the number normalised as for a real call"
    assert not Dialog.objects.exists()


@pytest.mark.django_db
def test_the_action_test_says_plainly_when_an_event_cannot_be_mapped(admin_client, client, crm, generic):
    post_event(client, generic, {"callId": "x"})

    response = admin_client.post(
        f"/admin/actions/action/{crm.pk}/test/", {"state": "", "raw_event": RawEvent.objects.get().pk}
    )

    assert "The event cannot be mapped by its channel: field_mapping.call_id" in response.content.decode()


@pytest.mark.django_db
def test_the_action_test_shows_the_refusal_of_a_private_address(admin_client, crm, settings):
    settings.ACTIONS_ALLOWED_HOSTS = []

    html = admin_client.post(f"/admin/actions/action/{crm.pk}/test/", {"state": "{}"}).content.decode()

    assert "Failed: refused to call &#x27;127.0.0.1&#x27;: it resolves to 127.0.0.1, a private or local address" in html


@pytest.mark.django_db
def test_invalid_json_in_the_action_test_is_explained(admin_client, crm):
    html = admin_client.post(f"/admin/actions/action/{crm.pk}/test/", {"state": "{oops"}).content.decode()
    assert "The call state is not valid JSON" in html


@pytest.mark.django_db
def test_enrichment_runs_are_visible_from_the_dialog_in_the_admin(admin_client, generic):
    action = Action.objects.create(name="Router", kind="rules", parameters={"rules": []})
    dialog = Dialog.objects.create(channel=generic, call_id="c-1")
    EnrichmentRun.objects.create(
        dialog=dialog,
        action=action,
        action_name="Router",
        duration=0.25,
        outcome="failed",
        error="the answer is not valid JSON",
    )

    html = admin_client.get(f"/admin/dialogs/dialog/{dialog.pk}/change/").content.decode()

    assert "Router" in html and "the answer is not valid JSON" in html


def test_templates_keep_json_types_for_whole_placeholders_and_write_text_inside_strings():
    state = {"telephony": {"duration": 62, "caller_number": "+380501234567", "tags": ["a"]}}
    assert render(
        {"d": "{{ telephony.duration }}", "t": "took {{ telephony.duration }} s", "missing": "{{ telephony.nope }}"},
        state,
    ) == {"d": 62, "t": "took 62 s", "missing": ""}
    assert render("{% import os %}{{ telephony.tags }}", state) == '{% import os %}["a"]', (
        "no statements, only look-ups"
    )


@pytest.mark.django_db(transaction=True)
def test_the_action_test_page_works_in_a_real_browser(live_server, page, django_user_model, crm, http_server):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    log_in(page, live_server, "root", "pw-root-123")

    page.goto(f"{live_server.url}/admin/actions/action/{crm.pk}/change/")
    page.click("text=Action test")
    page.fill("#id_state", json.dumps({"telephony": {"caller_number": "+380501234567"}}))
    page.click("#run-test")

    page.wait_for_selector("#test-outcome")
    assert page.inner_text("#test-outcome").startswith("Success")
    assert "operator@example.com" in page.inner_text("#test-outputs")
    assert "••••••" in page.inner_text("#test-request")
    screenshot(page, "action-test")
