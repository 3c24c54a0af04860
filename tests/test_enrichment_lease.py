"""The enrichment lease: a task that dies mid-run is retried as soon as its lease runs out (not after the
lost-task sweep's ten minutes), and a run that completed is never repeated. Against a real HTTP server on
127.0.0.1 that counts the CRM calls, and a real django-q2 cluster killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from actions.enrichment import enrich_dialog, requeue_stale_enrichments
from actions.models import Action, EnrichmentRun
from channels_app import worker
from dialogs.models import Dialog

from .conftest import (
    PROJECT_DIR,
    fixture,
    post_event,
    process_all,
    run_in_threads,
    run_queued_tasks,
    test_database_url,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def crm(http_server, settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/lookup", json={"topic": "none"}, delay=1.5)
    return http_server


@pytest.fixture
def pending_dialog(client, generic, crm):
    generic.enrich_action = Action.objects.create(
        name="Slow CRM",
        kind="http",
        parameters={"method": "POST", "url": crm.url("/lookup"), "timeout": 2, "retries": 0},
    )
    generic.save()
    post_event(client, generic, fixture("generic_call.json"))
    process_all()
    dialog = Dialog.objects.get()
    assert dialog.enrichment_state == "pending"
    return dialog


def start_task_cluster(**env):
    environment = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "PYTHONUNBUFFERED": "1",
        "Q_WORKERS": "1",
        "ACTIONS_ALLOWED_HOSTS": "127.0.0.1",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=PROJECT_DIR,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_two_copies_of_a_task_delivered_at_once_call_the_crm_once(pending_dialog, crm):
    outcomes = []
    run_in_threads(lambda _: outcomes.append(enrich_dialog(pending_dialog.pk)), range(2))

    assert sorted(outcomes) == ["another task holds it", "success"]
    assert len(crm.requests) == 1
    assert EnrichmentRun.objects.count() == 1


def test_a_task_queued_again_after_its_run_finished_does_nothing(pending_dialog, crm):
    run_queued_tasks()
    assert Dialog.objects.get().enrichment_state == "done"

    assert enrich_dialog(pending_dialog.pk) == "not pending"
    far = timezone.now() + timedelta(days=1)
    assert requeue_stale_enrichments(now=far) == 0
    assert len(crm.requests) == 1 and EnrichmentRun.objects.count() == 1


def test_a_held_lease_is_left_alone_and_an_expired_one_is_queued_again_at_once(pending_dialog):
    assert Dialog.claim_enrichment(pending_dialog.pk, lease_seconds=60)
    assert not Dialog.claim_enrichment(pending_dialog.pk, lease_seconds=60), "held"
    assert requeue_stale_enrichments() == 0

    soon_after = timezone.now() + timedelta(seconds=61)
    assert requeue_stale_enrichments(now=soon_after) == 1, "well before ENRICHMENT_REQUEUE_AFTER"
    assert requeue_stale_enrichments(now=soon_after) == 0, "queued once, not on every round"


def test_a_run_that_dies_every_time_ends_failed_with_a_reason(pending_dialog, settings):
    settings.ENRICHMENT_MAX_ATTEMPTS = 2
    later = timezone.now()
    for _ in range(2):
        assert Dialog.claim_enrichment(pending_dialog.pk, lease_seconds=1)  # a task starts, then its worker dies
        later += timedelta(seconds=2)
        requeue_stale_enrichments(now=later)

    dialog = Dialog.objects.get()
    assert (dialog.enrichment_state, dialog.ready_at is not None) == ("failed", True), "the call is not lost"
    assert "enrichment failed: the enrich action's task died 2 times before it finished" in dialog.messages.values_list(
        "text", flat=True
    )


def test_a_task_cluster_killed_mid_run_is_retried_within_seconds_and_the_crm_sees_one_completed_run(
    pending_dialog, crm
):
    lease = 2 + 1  # the action's timeout × one try, and ENRICHMENT_LEASE_MARGIN
    first = start_task_cluster(ENRICHMENT_LEASE_MARGIN="1")
    try:
        wait_until(lambda: len(crm.requests) == 1, timeout=40, message="the task to call the CRM")
    finally:
        kill(first)  # while the CRM holds the request
    killed_at = timezone.now()
    assert Dialog.objects.get().enrichment_state == "pending"

    stop = threading.Event()
    sweeper = threading.Thread(target=run_worker, args=(stop,))
    second = start_task_cluster(ENRICHMENT_LEASE_MARGIN="1")
    sweeper.start()
    try:
        wait_until(
            lambda: Dialog.objects.filter(ready_at__isnull=False).exists(), timeout=lease + 30, message="the dialog"
        )
        dialog = Dialog.objects.get()
        assert dialog.ready_at - killed_at < timedelta(seconds=lease + 20), (
            "seconds after the lease, not ENRICHMENT_REQUEUE_AFTER"
        )
        assert (dialog.enrichment_state, EnrichmentRun.objects.count(), len(crm.requests)) == ("done", 1, 2)

        assert enrich_dialog(dialog.pk) == "not pending", "a redelivered task"
        time.sleep(lease + 1)  # the worker keeps sweeping, the cluster keeps polling
        assert len(crm.requests) == 2 and EnrichmentRun.objects.count() == 1, "a completed run is never repeated"
    finally:
        stop.set()
        sweeper.join(timeout=10)
        kill(second)


def run_worker(stop):
    """The event worker's loop, sweeping every half second."""
    try:
        worker.run(stop=stop.is_set, poll_interval=0.05)  # the lease check runs every 2 s, the sweep once
    finally:
        connection.close()
