"""Hostile input: markup in every text field is shown as text; secrets and phone numbers stay out of logs."""

import logging

import pytest

from actions.models import Action
from dialogs.models import Dialog

from .conftest import fixture, post_event, process_all, run_queued_tasks

SCRIPT = "<script>alert(1)</script>"


@pytest.mark.django_db
def test_markup_from_a_provider_is_escaped_in_the_admin(client, admin_client, generic):
    payload = {
        **fixture("generic_call.json"),
        "caller": SCRIPT,
        "status": SCRIPT,
        "direction": SCRIPT,
        "transcript": SCRIPT,
        "manager_id": SCRIPT,
    }
    post_event(client, generic, payload)
    process_all()
    dialog = Dialog.objects.get()

    for url in (
        "/admin/dialogs/dialog/",
        f"/admin/dialogs/dialog/{dialog.pk}/change/",
        "/admin/channels_app/rawevent/",
    ):
        html = admin_client.get(url).content.decode()
        assert SCRIPT not in html, url
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;"
        in admin_client.get(f"/admin/dialogs/dialog/{dialog.pk}/change/").content.decode()
    )


@pytest.mark.django_db(transaction=True)
def test_tokens_secrets_and_full_numbers_never_reach_the_logs(client, generic, caplog, http_server, settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/lookup", status=500, body="upstream failure for +380501234567")
    generic.enrich_action = Action.objects.create(
        name="CRM",
        kind="http",
        parameters={
            "method": "POST",
            "url": http_server.url("/lookup"),
            "body": {"phone": "{{ telephony.caller_number }}"},
            "auth": {"type": "bearer"},
            "retries": 0,
        },
        secrets={"token": "action-secret-123"},
    )
    generic.save()
    caplog.set_level(logging.DEBUG)

    post_event(client, generic, fixture("generic_call.json"))
    post_event(client, generic, fixture("generic_call.json"), token="wrong-token-456")
    post_event(client, generic, "{broken")
    process_all()
    run_queued_tasks()

    logged = "\n".join(record.getMessage() + str(record.exc_info or "") for record in caplog.records)
    for secret in (generic.token, "wrong-token-456", "action-secret-123", "+380501234567", "0501234567"):
        assert secret not in logged
    assert Dialog.objects.get().enrichment_state == "failed", "the failure path did run"
