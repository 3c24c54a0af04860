"""Faults: a killed worker, a database that goes away, a storm of parallel duplicates. No call is lost
or doubled."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from django.db import connection

from actions.enrichment import requeue_stale_enrichments
from channels_app import worker
from channels_app.models import RawEvent
from dialogs.models import CallEvent, Dialog

from .conftest import (
    PROJECT_DIR,
    database_down,
    fixture,
    post_event,
    process_all,
    run_in_threads,
    test_database_url,
    wait_until,
)

CALLS = 60


def setera_call(number):
    events = fixture("setera_incoming.json")
    for event in events:
        event["call_id"] = f"call-{number}"
    return events


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(client, setera):
    for number in range(CALLS):
        for event in setera_call(number):
            post_event(client, setera, event)
    env = {**os.environ, "DATABASE_URL": test_database_url(), "EVENT_LEASE_SECONDS": "1"}
    victim = subprocess.Popen(
        [sys.executable, "manage.py", "process_events", "--poll", "0.05"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: RawEvent.objects.filter(state="processed").count() >= 20, message="the worker to get going")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert RawEvent.objects.exclude(state="processed").exists(), "killed before it finished"

    survivor = subprocess.run(
        [sys.executable, "manage.py", "process_events", "--once"],
        cwd=PROJECT_DIR,
        env={**env, "EVENT_LEASE_SECONDS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert survivor.returncode == 0, survivor.stderr
    time.sleep(1.1)  # leases of the killed worker run out
    process_all()

    assert Dialog.objects.count() == CALLS
    assert CallEvent.objects.count() == CALLS * 3
    assert set(Dialog.objects.values_list("status", flat=True)) == {"answered"}
    assert set(RawEvent.objects.values_list("state", flat=True)) == {"processed"}


@pytest.mark.django_db(transaction=True)
def test_a_delivery_refused_while_the_database_was_down_arrives_whole_on_the_providers_retry(client, setera):
    first, second, third = fixture("setera_incoming.json")
    post_event(client, setera, first)
    with database_down():
        assert post_event(client, setera, second).status_code == 503

    assert post_event(client, setera, second).status_code == 202  # the provider retries
    post_event(client, setera, third)
    process_all()

    dialog = Dialog.objects.get()
    assert (dialog.status, dialog.duration) == ("answered", pytest.approx(4.048))


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_deliveries_with_every_event_three_times_make_exactly_one_dialog_per_call(live_server, setera):
    url = f"{live_server.url}/webhooks/telephony/{setera.webhook_id}/?token={setera.token}"
    deliveries = [event for number in range(6) for event in setera_call(number)] * 3  # 54 deliveries
    start = threading.Barrier(len(deliveries))
    codes = []

    def deliver(payload):
        with requests.Session() as session:
            start.wait()
            codes.append(
                session.post(
                    url, data=json.dumps(payload), headers={"Content-Type": "application/json"}, timeout=60
                ).status_code
            )

    run_in_threads(deliver, deliveries, timeout=90)
    assert codes == [202] * len(deliveries)

    workers_start = threading.Barrier(4)

    def work(_):
        workers_start.wait()
        while worker.process_batch(limit=2):
            pass

    run_in_threads(work, range(4), timeout=120)

    assert Dialog.objects.count() == 6
    assert CallEvent.objects.count() == 18
    assert set(Dialog.objects.values_list("status", flat=True)) == {"answered"}
    assert sorted(set(RawEvent.objects.values_list("state", flat=True))) == ["duplicate", "processed"]


@pytest.mark.django_db(transaction=True)
def test_with_the_task_broker_down_deliveries_are_stored_and_nothing_is_missing_when_it_returns(
    live_server, generic, http_server, settings
):
    """REDIS_URL points at a Redis that is down: the webhook never needs the broker, the worker still makes
    the dialogs, and the enrichment it could not queue is queued by the sweep once a broker answers."""
    from datetime import timedelta

    from django.utils import timezone

    from actions.models import Action

    from .conftest import run_queued_tasks

    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/crm", json={"topic": "none"})
    generic.enrich_action = Action.objects.create(
        name="CRM", kind="http", parameters={"method": "POST", "url": http_server.url("/crm")}
    )
    generic.save()
    url = f"{live_server.url}/webhooks/telephony/{generic.webhook_id}/?token={generic.token}"
    for number in range(3):
        assert (
            requests.post(url, json={**fixture("generic_call.json"), "call_id": f"c-{number}"}, timeout=10).status_code
            == 202
        )

    env = {**os.environ, "DATABASE_URL": test_database_url(), "REDIS_URL": "redis://127.0.0.1:1/0"}
    worker_run = subprocess.run(
        [sys.executable, "manage.py", "process_events", "--once"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker_run.returncode == 0, worker_run.stderr
    assert Dialog.objects.filter(enrichment_state="pending").count() == 3, "the calls are there, waiting"
    assert "could not queue enrichment" in worker_run.stderr

    later = timezone.now() + timedelta(seconds=settings.ENRICHMENT_REQUEUE_AFTER + 1)
    assert requeue_stale_enrichments(now=later) == 3  # a broker answers again (here: the ORM broker)
    run_queued_tasks()

    assert set(Dialog.objects.values_list("enrichment_state", flat=True)) == {"done"}
    assert Dialog.objects.filter(ready_at__isnull=False).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_under_a_delivery_answers_503_and_the_next_delivery_is_stored(live_server, setera):
    """The database drops the web server's connection (a restart, a failover, a proxy's idle timeout)."""
    if connection.vendor != "postgresql":
        pytest.skip("terminating a server session is PostgreSQL's")
    url = f"{live_server.url}/webhooks/telephony/{setera.webhook_id}/?token={setera.token}"
    first, second, third = fixture("setera_incoming.json")
    with requests.Session() as provider:
        assert provider.post(url, json=first, timeout=10).status_code == 202
        with connection.cursor() as cursor:  # every session but the test's own: the server's goes too
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

        refused = provider.post(url, json=second, timeout=10)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
        assert provider.post(url, json=second, timeout=10).status_code == 202  # the provider's retry
        assert provider.post(url, json=third, timeout=10).status_code == 202
    process_all()

    assert Dialog.objects.get().status == "answered"
