"""Caller lookup at ring time: the channel's caller lookup action runs on a call's first event, against a
real HTTP server on 127.0.0.1 standing in for the CRM, off the worker's path and within its deadline."""

import threading
import time

import pytest

from actions.lookup import LOOKUPS, look_up, start_caller_lookups
from actions.models import Action
from dialogs.models import Dialog

from .conftest import database_down, fixture, post_event, process_all, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CONTACT = {"contact": {"name": "Mariia Koval", "company": "Koval & Sons", "url": "https://crm.example/c/42", "tier": 2}}
OUTPUTS = {
    "caller_name": "contact.name",
    "caller_company": "contact.company",
    "caller_url": "contact.url",
    "tier": "contact.tier",
}


@pytest.fixture(autouse=True)
def crm_is_reachable(settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def lookups_end_with_their_test():
    yield
    assert LOOKUPS.wait(timeout=15), "a lookup still runs after its test"


@pytest.fixture
def crm(http_server):
    http_server.route("POST", "/lookup", json=CONTACT)
    return http_server


@pytest.fixture
def channel(generic):
    generic.advanced_config["recordings"]["enabled"] = False
    generic.save()
    return generic


def lookup_action(server, **parameters):
    return Action.objects.create(
        name="Who is calling",
        kind="http",
        parameters={
            "method": "POST",
            "url": server.url("/lookup"),
            "body": {"phone": "{{ telephony.caller_number }}", "call": "{{ telephony.call_id }}"},
            "auth": {"type": "bearer"},
            "outputs": OUTPUTS,
            **parameters,
        },
        secrets={"token": "crm-secret-token"},
    )


def with_lookup(channel, action, deadline=2.0):
    channel.caller_lookup_action, channel.caller_lookup_deadline = action, deadline
    channel.save()
    return channel


def ring(client, channel, call_id="c-1001", **fields):
    """The call's first event, through the webhook and the worker; how long the worker took."""
    assert (
        post_event(client, channel, {**fixture("generic_call.json"), "call_id": call_id, **fields}).status_code == 202
    )
    started = time.monotonic()
    process_all()
    return time.monotonic() - started


def finished_lookup(call_id="c-1001", timeout=10):
    assert LOOKUPS.wait(timeout), "the lookup did not end"
    return Dialog.objects.get(call_id=call_id)


def card(client, dialog, user):
    client.force_login(user)
    response = client.get(f"/panel/dialogs/{dialog.pk}/caller/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_fast_lookup_names_the_caller_on_the_card(client, channel, crm, admin_user):
    with_lookup(channel, lookup_action(crm))

    ring(client, channel)

    dialog = finished_lookup()
    assert dialog.caller_lookup["state"] == "done"
    assert dialog.caller_lookup["outputs"] == {
        "caller_name": "Mariia Koval",
        "caller_company": "Koval & Sons",
        "caller_url": "https://crm.example/c/42",
        "tier": 2,
    }
    [request] = crm.requests
    assert request.json() == {"phone": "+380501234567", "call": "c-1001"}
    assert request.headers["Authorization"] == "Bearer crm-secret-token"
    html = card(client, dialog, admin_user)
    assert "Mariia Koval" in html and "Koval &amp; Sons" in html
    assert 'href="https://crm.example/c/42" target="_blank" rel="noopener noreferrer"' in html
    assert "<dt>tier</dt><dd>2</dd>" in html and "Looking up" not in html


def test_later_events_of_the_call_never_run_the_lookup_again(client, channel, crm):
    with_lookup(channel, lookup_action(crm))
    ring(client, channel, call_duration=62)
    finished_lookup()

    ring(client, channel, call_duration=63)
    ring(client, channel, call_duration=64)

    finished_lookup()
    assert len(crm.requests) == 1
    assert Dialog.objects.get().caller_lookup["state"] == "done"


def test_a_slow_crm_fails_at_the_deadline_and_never_holds_the_call_back(client, channel, http_server, admin_user):
    http_server.route("POST", "/lookup", json=CONTACT, delay=3.5)
    with_lookup(channel, lookup_action(http_server, timeout=5, retries=2))

    worker_seconds = ring(client, channel)

    assert worker_seconds < 1.0, "the worker does not wait for the lookup"
    dialog = Dialog.objects.get()
    assert dialog.completed_at is not None and dialog.ready_at is not None, "the call went on meanwhile"
    assert dialog.caller_lookup["state"] == "pending"
    html = card(client, dialog, admin_user)
    assert "Looking up the caller…" in html and "050 123 4567" in html
    started = time.monotonic()
    dialog = finished_lookup()
    assert time.monotonic() - started < 2.5, "failed at its deadline, not when the CRM answered"
    assert dialog.caller_lookup["state"] == "failed"
    assert dialog.caller_lookup["error"] == "no answer within 2 s"
    assert len(http_server.requests) == 1, "no retry: it would not fit in the deadline"
    html = card(client, dialog, admin_user)
    assert "Caller lookup failed: no answer within 2 s" in html and "050 123 4567" in html


def test_a_failing_crm_fails_the_lookup_with_its_reason_after_the_retries_that_fit(client, channel, http_server):
    http_server.route("POST", "/lookup", status=500, json={"error": "down"})
    with_lookup(channel, lookup_action(http_server, timeout=0.5, retries=3))

    ring(client, channel)

    dialog = finished_lookup()
    assert dialog.caller_lookup["state"] == "failed"
    assert dialog.caller_lookup["error"] == "the external system answered HTTP 500"
    assert len(http_server.requests) == 2, "0.5 s + 0.5 s backoff + 0.5 s fit in 2 s; a third try does not"


def test_an_answer_without_the_outputs_fails_with_what_is_missing(client, channel, http_server):
    http_server.route("POST", "/lookup", json={"contact": None})
    with_lookup(channel, lookup_action(http_server))
    ring(client, channel)
    error = finished_lookup().caller_lookup["error"]
    assert error.startswith("the answer has no ") and "caller_name (at 'contact.name')" in error


def test_a_private_address_is_refused_and_nothing_is_sent(client, channel, crm, settings):
    settings.ACTIONS_ALLOWED_HOSTS = []
    with_lookup(channel, lookup_action(crm))

    ring(client, channel)

    dialog = finished_lookup()
    assert dialog.caller_lookup["state"] == "failed"
    assert "refused to call '127.0.0.1'" in dialog.caller_lookup["error"]
    assert crm.requests == [] and crm.connections == 0


def test_a_rules_action_looks_up_without_an_external_call(client, channel):
    rules = Action.objects.create(
        name="Our own numbers",
        kind="rules",
        parameters={
            "rules": [
                {"when": [{"field": "telephony.caller_number", "prefix": "+38050"}], "set": {"caller_name": "Kyivstar"}}
            ]
        },
    )
    with_lookup(channel, rules)
    ring(client, channel)
    assert finished_lookup().caller_lookup["outputs"] == {"caller_name": "Kyivstar"}


def test_a_channel_without_a_lookup_action_runs_none(client, channel, crm):
    ring(client, channel)
    assert finished_lookup().caller_lookup == {} and crm.requests == []


def test_too_many_lookups_at_once_fail_at_once(client, channel, http_server, settings):
    settings.CALLER_LOOKUP_MAX_AT_ONCE = 2
    http_server.route("POST", "/lookup", json=CONTACT)
    gate = http_server.gates["/lookup"] = threading.Event()
    with_lookup(channel, lookup_action(http_server), deadline=10)
    for number in range(3):
        assert post_event(client, channel, {**fixture("generic_call.json"), "call_id": f"c{number}"}).status_code == 202

    process_all()  # one batch: three new calls

    states = sorted(Dialog.objects.values_list("caller_lookup__state", flat=True))
    assert states == ["failed", "pending", "pending"]
    assert Dialog.objects.get(caller_lookup__state="failed").caller_lookup["error"] == "too many lookups at once"
    gate.set()
    assert LOOKUPS.wait(10)
    assert sorted(Dialog.objects.values_list("caller_lookup__state", flat=True)) == ["done", "done", "failed"]


def test_a_lookup_that_waited_past_its_deadline_is_not_run(channel, crm):
    with_lookup(channel, lookup_action(crm))
    dialog = Dialog.objects.create(channel=channel, call_id="waited")

    look_up(dialog.pk, 2.0, time.monotonic() - 0.1)

    dialog.refresh_from_db()
    assert dialog.caller_lookup["error"] == "no answer within 2 s" and crm.requests == []


def test_a_lookup_whose_action_was_unset_meanwhile_says_so(channel, crm):
    dialog = Dialog.objects.create(channel=channel, call_id="unset")
    look_up(dialog.pk, 2.0, time.monotonic() + 2)
    dialog.refresh_from_db()
    assert dialog.caller_lookup["error"] == "the channel no longer has a caller lookup action"


def test_starting_lookups_never_raises_into_the_worker(channel, crm, caplog):
    with_lookup(channel, lookup_action(crm))
    dialog = Dialog.objects.create(channel=channel, call_id="db-down")
    with database_down():
        start_caller_lookups([dialog.pk])
    assert "starting the caller lookups" in caplog.text
    dialog.refresh_from_db()
    assert dialog.caller_lookup == {} and crm.requests == []


@pytest.fixture
def lookup_worker(monkeypatch, request, transactional_db):
    monkeypatch.setenv("ACTIONS_ALLOWED_HOSTS", "127.0.0.1")
    return request.getfixturevalue("worker_process")


def test_the_real_event_worker_runs_the_lookup(client, channel, crm, lookup_worker):
    with_lookup(channel, lookup_action(crm))
    assert post_event(client, channel, fixture("generic_call.json")).status_code == 202

    wait_until(lambda: Dialog.objects.filter(caller_lookup__state="done").exists(), message="the worker's lookup")
    assert Dialog.objects.get().caller_lookup["outputs"]["caller_name"] == "Mariia Koval"
    assert len(crm.requests) == 1
