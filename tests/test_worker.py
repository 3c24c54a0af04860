"""The event worker: claims, leases, retries, and the real worker process."""

import threading
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from channels_app import worker
from channels_app.models import RawEvent
from dialogs.models import Dialog

from .conftest import fixture, post_event, process_all, run_in_threads, wait_until

pytestmark = pytest.mark.django_db


def test_an_event_claimed_by_a_worker_that_died_is_processed_once_when_its_lease_runs_out(client, setera, settings):
    for payload in fixture("setera_incoming.json"):
        post_event(client, setera, payload)
    claimed = worker.claim(limit=10)  # ...and the worker is killed before it processes them
    assert len(claimed) == 3
    assert process_all() == 0, "leased events are not offered to other workers"

    RawEvent.objects.update(available_at=timezone.now() - timedelta(seconds=1))  # the lease ran out
    assert process_all() == 3

    assert Dialog.objects.get().status == "answered"
    assert set(RawEvent.objects.values_list("state", "attempts")) == {("processed", 2)}
    assert process_all() == 0


def test_an_event_whose_worker_keeps_dying_is_failed_after_the_last_attempt(client, setera, settings):
    post_event(client, setera, fixture("setera_incoming.json")[0])
    for _ in range(settings.EVENT_MAX_ATTEMPTS):
        assert len(worker.claim(limit=10)) == 1
        RawEvent.objects.update(available_at=timezone.now() - timedelta(seconds=1))

    assert worker.claim(limit=10) == []

    event = RawEvent.objects.get()
    assert event.state == RawEvent.State.FAILED and event.available_at is None
    assert "gave up" in event.error


def test_a_transient_failure_is_retried_later_and_recorded(client, setera, monkeypatch):
    post_event(client, setera, fixture("setera_incoming.json")[0])
    failures = iter([ConnectionError("database connection reset")] * 2)  # the batch, then the call alone

    real_merge = Dialog.merge_calls.__func__

    def flaky_merge(cls, *args, **kwargs):
        for failure in failures:
            raise failure
        return real_merge(cls, *args, **kwargs)

    monkeypatch.setattr(Dialog, "merge_calls", classmethod(flaky_merge))
    process_all()

    event = RawEvent.objects.get()
    assert event.state == RawEvent.State.RECEIVED
    assert event.error == "ConnectionError: database connection reset"
    assert event.available_at > timezone.now(), "retried after a backoff, not at once"

    RawEvent.objects.update(available_at=timezone.now())
    process_all()
    event.refresh_from_db()
    assert (event.state, event.attempts) == ("processed", 2)
    assert Dialog.objects.count() == 1


def test_a_rejected_delivery_is_never_processed(client, setera):
    post_event(client, setera, "{broken")
    assert process_all() == 0
    assert RawEvent.objects.get().state == RawEvent.State.REJECTED


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_process_turns_http_deliveries_into_a_dialog(live_server, setera, worker_process):
    url = f"{live_server.url}/webhooks/telephony/{setera.webhook_id}/"
    for payload in fixture("setera_outgoing.json"):
        response = requests.post(url, json=payload, headers={"X-Webhook-Token": setera.token}, timeout=10)
        assert response.status_code == 202

    wait_until(lambda: Dialog.objects.filter(status="answered").exists(), message="the worker to complete the call")
    dialog = Dialog.objects.get()
    assert (dialog.direction, dialog.duration) == ("out", pytest.approx(2.709))
    wait_until(lambda: RawEvent.objects.filter(state="processed").count() == 3, message="all events processed")


@pytest.mark.django_db(transaction=True)
def test_the_worker_process_stops_cleanly_on_sigterm(worker_process):
    wait_until(lambda: worker_process.stdout.readline().startswith("event worker started"), message="start")
    worker_process.terminate()
    assert worker_process.wait(timeout=10) == 0


@pytest.mark.django_db(transaction=True)
def test_parallel_deliveries_and_workers_never_make_two_dialogs(live_server, make_channel):
    """Every event of a call, each delivered three times, all at once; then four workers at once."""
    channel = make_channel("setera")
    url = f"{live_server.url}/webhooks/telephony/{channel.webhook_id}/?token={channel.token}"
    deliveries = fixture("setera_incoming.json") * 3
    start = threading.Barrier(len(deliveries))
    answers = []

    def deliver(payload):
        with requests.Session() as session:
            start.wait()
            answers.append(session.post(url, json=payload, timeout=30).status_code)

    run_in_threads(deliver, deliveries)
    assert answers == [202] * len(deliveries)

    workers_start = threading.Barrier(4)

    def work(_):
        workers_start.wait()
        while worker.process_batch(limit=1):
            pass

    run_in_threads(work, range(4))

    dialog = Dialog.objects.get()
    assert (dialog.status, dialog.duration) == ("answered", pytest.approx(4.048))
    assert dialog.events.count() == 3
    states = sorted(RawEvent.objects.values_list("state", flat=True))
    assert states == ["duplicate"] * 6 + ["processed"] * 3


def test_a_noisy_channel_cannot_starve_the_others(client, make_channel):
    noisy, quiet = make_channel("generic", name="Noisy"), make_channel("generic", name="Quiet")
    for number in range(30):
        post_event(client, noisy, {**fixture("generic_call.json"), "call_id": f"n{number}"})
    post_event(client, quiet, {**fixture("generic_call.json"), "call_id": "q1"})

    first_batch = worker.claim(limit=5)

    assert quiet.pk in {event.channel_id for event in first_batch}
    assert len(first_batch) == 5


def test_events_of_one_channel_are_claimed_oldest_first(client, generic):
    for number in range(4):
        post_event(client, generic, {**fixture("generic_call.json"), "call_id": f"c{number}"})
    assert [event.pk for event in worker.claim(limit=2)] == list(
        RawEvent.objects.order_by("id").values_list("id", flat=True)[:2]
    )


def test_a_batch_of_many_calls_costs_a_few_statements_not_a_few_per_call(
    client, generic, django_assert_max_num_queries
):
    for number in range(40):
        post_event(
            client,
            generic,
            {**fixture("generic_call.json"), "call_id": f"c{number}", "manager_id": f"nobody{number % 3}@example.com"},
        )

    with django_assert_max_num_queries(30):  # call by call it was about five statements per call
        assert worker.process_batch(limit=50) == 40

    assert Dialog.objects.filter(status="answered", completed_at__isnull=False).count() == 40
    assert set(RawEvent.objects.values_list("state", flat=True)) == {"processed"}
    noted = Dialog.objects.get(call_id="c4").messages.values_list("key", flat=True)
    assert list(noted) == ["operator-not-found:nobody1@example.com"]


def test_a_call_that_fails_holds_back_only_its_own_delivery(client, generic, monkeypatch):
    for call_id in ("good-1", "bad", "good-2"):
        post_event(client, generic, {**fixture("generic_call.json"), "call_id": call_id})
    real_refold = Dialog.refold

    def refold(dialog, events=None):
        if dialog.call_id == "bad":
            raise ValueError("a bug that this call's data triggers")
        return real_refold(dialog, events)

    monkeypatch.setattr(Dialog, "refold", refold)
    assert worker.process_batch() == 3

    assert sorted(Dialog.objects.values_list("call_id", flat=True)) == ["good-1", "good-2"]
    first, bad, last = RawEvent.objects.order_by("id")
    assert (first.state, last.state) == ("processed", "processed")
    assert (bad.state, bad.error) == ("received", "ValueError: a bug that this call's data triggers")
    assert bad.available_at > timezone.now(), "tried again after a backoff"

    monkeypatch.setattr(Dialog, "refold", real_refold)
    RawEvent.objects.filter(pk=bad.pk).update(available_at=timezone.now())
    assert process_all() == 1
    assert Dialog.objects.get(call_id="bad").status == "answered"


def test_a_batch_of_many_calls_is_merged_in_chunks_and_none_is_left_out(client, generic, monkeypatch):
    monkeypatch.setattr(worker, "MAX_CALLS_PER_TRANSACTION", 3)
    events = [{**fixture("generic_call.json"), "call_id": f"bulk-{number}"} for number in range(10)]
    post_event(client, generic, events[:4])  # one body may carry many calls
    for event in events[4:]:
        post_event(client, generic, event)

    assert worker.process_batch() == 7

    assert sorted(Dialog.objects.values_list("call_id", flat=True)) == sorted(event["call_id"] for event in events)
    assert set(RawEvent.objects.values_list("state", flat=True)) == {"processed"}
