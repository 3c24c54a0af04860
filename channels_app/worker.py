"""The event worker: claims stored webhook events in batches and merges them into dialogs.

Run any number of workers (`manage.py process_events`) against one database: each claims its own
rows, and a worker that dies leaves its claimed rows to come back when their lease runs out.
"""

import logging
import time

from django.db import close_old_connections, connection

from dialogs.models import Dialog
from recordings.pipeline import queue_due_downloads, queue_due_transcriptions

from .models import RawEvent

log = logging.getLogger(__name__)

BATCH_SIZE = 50


def process_batch(limit=BATCH_SIZE):
    """Claim and process up to `limit` events; the number processed."""
    relax_durability()
    events = RawEvent.claim(limit)
    if events:
        RawEvent.process_batch(events)
    return len(events)


def relax_durability():
    """On PostgreSQL, don't wait for the disk at each commit of the worker. Safe: everything the worker
    writes is derived from stored events, and a commit lost in a crash leaves its events claimable
    again, to be processed idempotently. The webhook's own inserts stay fully durable."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        if getattr(connection, "relaxed_session", None) is not connection.connection:  # once per session
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            connection.relaxed_session = connection.connection


def drain(limit=BATCH_SIZE):
    """Process until the queue has nothing available now; the number processed."""
    total = 0
    while count := process_batch(limit):
        total += count
    return total


def run(stop, poll_interval=0.2, sweep_interval=60, lease_interval=2):
    """Work until `stop()` is true: process what is queued, sleep briefly when idle, sweep now and then, and
    every `lease_interval` seconds retry the enrichments whose task died (one indexed query)."""
    next_sweep = next_lease_check = 0.0
    while not stop():
        close_old_connections()
        try:
            if time.monotonic() >= next_sweep:
                sweep()
                next_sweep = time.monotonic() + sweep_interval
            if time.monotonic() >= next_lease_check:
                if requeued := Dialog.requeue_stale_enrichments():
                    log.info("queued %s enrichments again", requeued)
                next_lease_check = time.monotonic() + lease_interval
            if process_batch() < BATCH_SIZE:  # the queue is short: let it fill, bigger batches cost less per event
                time.sleep(poll_interval)
        except Exception:  # the database went away, say: keep trying, the events wait in their table
            log.exception("worker loop failed; retrying")
            time.sleep(min(5, poll_interval * 10))


def sweep():
    """Complete the calls whose final event never came, and queue the downloads and transcriptions due."""
    if swept := Dialog.complete_stale():
        log.info("completed %s calls whose final event never came", swept)
    queue_due_downloads()
    queue_due_transcriptions()
