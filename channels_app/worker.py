"""The event worker: claims stored webhook events in batches and merges them into dialogs.

Run any number of workers (`manage.py process_events`) against one database: each claims its own rows
(taking turns between channels), and a worker that dies leaves its claimed rows to come back when their
lease runs out. A batch is mapped delivery by delivery and merged in a few transactions; whatever one
delivery carries, it fails alone.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, models, transaction
from django.utils import timezone

from accounts.models import User, operator_lookups_remembered
from actions.enrichment import queue_enrichment, requeue_stale_enrichments
from actions.lookup import start_caller_lookups
from connective.lib import sql
from dialogs.calls import IncomingEvent
from dialogs.models import CallEvent, Dialog, DialogChanges, LiveUpdate
from recordings.pipeline import dialogs_changed, queue_due_downloads, queue_due_transcriptions

from .mapping import MappingError
from .models import RawEvent, TelephonyChannel
from .parsing import BodyError

log = logging.getLogger(__name__)

BATCH_SIZE = 50
# A transaction's size stays within what one statement may bind (65,535 parameters) and what the lock
# table holds, whatever the deliveries carry (a body may hold a thousand events).
MAX_CALLS_PER_TRANSACTION, MAX_EVENTS_PER_TRANSACTION = 200, 2000


# -- The loop ----------------------------------------------------------------------------------------


def process_batch(limit=BATCH_SIZE):
    """Claim and process up to `limit` events; the number processed."""
    relax_durability()
    events = claim(limit)
    if events:
        process(events)
    return len(events)


def relax_durability():
    """The worker's commits need not wait for the disk: everything it writes is derived from stored events,
    and a commit lost in a crash leaves its events claimable again, to be processed idempotently. The
    webhook's own inserts stay fully durable."""
    sql.relax_durability()


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
                if requeued := requeue_stale_enrichments():
                    log.info("queued %s enrichments again", requeued)
                next_lease_check = time.monotonic() + lease_interval
            if process_batch() < BATCH_SIZE:  # the queue is short: let it fill, bigger batches cost less per event
                time.sleep(poll_interval)
        except Exception:  # the database went away, say: keep trying, the events wait in their table
            log.exception("worker loop failed; retrying")
            time.sleep(min(5, poll_interval * 10))


def sweep():
    """Complete the calls whose final event never came, queue the downloads and transcriptions due, and drop
    the live changes no stream needs any more."""
    changes = DialogChanges()
    if swept := Dialog.complete_stale(changes=changes):
        log.info("completed %s calls whose final event never came", swept)
    hand_over_safely(changes)
    queue_due_downloads()
    queue_due_transcriptions()
    LiveUpdate.prune()


def hand_over(changes: DialogChanges) -> None:
    """After the commit of a change of dialogs: what it asks of the features that follow a call."""
    if changes.created:
        start_caller_lookups(changes.created)
    for pk in changes.to_enrich:
        queue_enrichment(pk)
    if changes.media_changed:
        dialogs_changed(changes.media_changed)


# -- Claiming ----------------------------------------------------------------------------------------


def fair_turns(now, limit):
    """The ids of up to `limit` available events, taking turns between channels, so one noisy channel cannot
    starve the others."""
    return sql.fair_turns(RawEvent._meta.db_table, TelephonyChannel._meta.db_table, now, limit)


@transaction.atomic
def claim(limit: int) -> list[RawEvent]:
    """Take up to `limit` events off the queue for this worker; an event whose worker died comes back
    when its lease runs out, and one whose worker died EVENT_MAX_ATTEMPTS times is failed."""
    now = timezone.now()
    rows = list(
        RawEvent.objects.select_for_update(skip_locked=True)
        .filter(id__in=fair_turns(now, limit), available_at__lte=now)
        .order_by("available_at", "id")
        .values_list("id", "attempts")
    )
    exhausted = [pk for pk, attempts in rows if attempts >= settings.EVENT_MAX_ATTEMPTS]
    if exhausted:
        RawEvent.objects.filter(id__in=exhausted).update(
            state=RawEvent.State.FAILED,
            available_at=None,
            processed_at=now,
            error=f"gave up: the worker stopped while processing it {settings.EVENT_MAX_ATTEMPTS} times",
        )
    ids = [pk for pk, attempts in rows if attempts < settings.EVENT_MAX_ATTEMPTS]
    lease_end = now + timedelta(seconds=settings.EVENT_LEASE_SECONDS)
    RawEvent.objects.filter(id__in=ids).update(
        state=RawEvent.State.PROCESSING, available_at=lease_end, attempts=models.F("attempts") + 1
    )
    return list(RawEvent.objects.filter(id__in=ids).select_related("channel").order_by("id"))


# -- Processing a batch ------------------------------------------------------------------------------


@dataclass
class Batch:
    """Claimed deliveries on their way: their events grouped by call, and what became of each delivery
    (all keyed by raw event id)."""

    raw_events: list
    calls: dict = field(default_factory=lambda: defaultdict(list))  # (channel, call_id): [IncomingEvent]
    errors: dict = field(default_factory=lambda: defaultdict(list))  # what could not be read, for the log
    ignored: dict = field(default_factory=lambda: defaultdict(int))  # events that are not calls
    merged: dict = field(default_factory=lambda: defaultdict(int))  # events newly merged into a dialog
    troubled: dict = field(default_factory=dict)  # a transient failure of the merge: tried again later

    def operator_refs(self):
        return (item.mapped.fields.get("operator_id") for items in self.calls.values() for item in items)


def process(raw_events: list[RawEvent]) -> None:
    """Merge the events of claimed deliveries into their dialogs and record each delivery's outcome. Safe
    to run again: nothing doubles. A call that fails for a transient reason leaves its deliveries to be
    tried again."""
    with operator_lookups_remembered():
        batch = Batch(share_channels(raw_events))
        for raw_event in batch.raw_events:
            map_or_fail(batch, raw_event)
        remember_operators(batch)
        for key, outcomes in merge_in_chunks(batch.calls, batch.troubled).items():
            for item, was_merged in zip(batch.calls[key], outcomes, strict=True):
                batch.merged[item.raw_event.pk] += was_merged
        record_outcomes(batch)


def share_channels(raw_events):
    """One channel object per channel: its parsed mapping serves the whole batch."""
    channels = {}
    for raw_event in raw_events:
        raw_event.channel = channels.setdefault(raw_event.channel_id, raw_event.channel)
    return raw_events


def map_or_fail(batch, raw_event):
    try:
        map_delivery(batch, raw_event)
    except Exception as exc:  # whatever one delivery carries, it fails alone, never its batch
        log.warning("mapping event %s failed: %s", raw_event.pk, type(exc).__name__)
        batch.errors[raw_event.pk].append(f"the event could not be mapped: {type(exc).__name__}: {str(exc)[:200]}")


def map_delivery(batch, raw_event):
    """Map each event of a delivery into the batch's calls; what cannot be read goes to its errors."""
    try:
        payloads = raw_event.payloads()
    except BodyError as exc:
        batch.errors[raw_event.pk].append(str(exc))
        return
    mapping = raw_event.channel.mapping
    for position, payload in enumerate(payloads):
        if mapping.ignores(payload):
            batch.ignored[raw_event.pk] += 1
            continue
        try:
            mapped = mapping.map(payload)
        except MappingError as exc:
            batch.errors[raw_event.pk].append(str(exc) if position == 0 else f"event {position}: {exc}")
            continue
        batch.calls[(raw_event.channel, mapped.call_id)].append(IncomingEvent(raw_event, position, payload, mapped))


def remember_operators(batch):
    try:
        User.objects.remember_operators(batch.operator_refs())
    except Exception:  # each call then looks its operator up itself
        log.warning("looking up the batch's operators failed", exc_info=True)


def merge_in_chunks(calls, troubled):
    """Merge the batch's calls in one transaction per chunk; when a chunk fails, call by call, so a call
    that fails (recorded in `troubled` by raw event) holds back only its own deliveries.
    {call: merged flags}"""
    outcomes = {}
    for chunk in chunks(calls):
        outcomes.update(merge_chunk(chunk, troubled))
    return outcomes


def chunks(calls):
    chunk, events = {}, 0
    for key, items in calls.items():
        if chunk and (len(chunk) >= MAX_CALLS_PER_TRANSACTION or events + len(items) > MAX_EVENTS_PER_TRANSACTION):
            yield chunk
            chunk, events = {}, 0
        chunk[key], events = items, events + len(items)
    if chunk:
        yield chunk


def merge_chunk(calls, troubled):
    """Merge the chunk's calls in one transaction, else call by call; after each commit, hand its changes
    over. {call: merged flags}"""
    try:
        result = Dialog.merge_calls(calls, CallEvent.stored_copies(calls.items()))
    except Exception:  # a worker survives anything a call does, and finds which call it was
        log.warning("merging a batch of %s calls failed; merging them one by one", len(calls), exc_info=True)
    else:
        hand_over_safely(result.changes)
        return result.merged
    outcomes = {}
    for key, items in calls.items():
        try:
            result = Dialog.merge_calls({key: items})
        except Exception as exc:
            log.exception("merging events of a call failed")
            for item in items:
                troubled[item.raw_event.pk] = f"{type(exc).__name__}: {exc}"
        else:
            hand_over_safely(result.changes)
            outcomes.update(result.merged)
    return outcomes


def hand_over_safely(changes):
    """Once the merge is committed: a follow-up that fails is logged, never a reason to merge again (the
    sweeps find what a lost follow-up left undone)."""

    def follow_up():
        try:
            hand_over(changes)
        except Exception:
            log.exception("handing over the changes of dialogs %s failed", changes.changed)

    transaction.on_commit(follow_up)


def record_outcomes(batch):
    """Each delivery's state: tried again later, failed with its reasons, or done (one UPDATE per state)."""
    done = defaultdict(list)
    for raw_event in batch.raw_events:
        if raw_event.pk in batch.troubled:
            raw_event.fail_attempt(batch.troubled[raw_event.pk])
        elif batch.errors[raw_event.pk]:
            raw_event.finish(RawEvent.State.FAILED, "; ".join(batch.errors[raw_event.pk]))
        elif batch.merged[raw_event.pk]:
            done[RawEvent.State.PROCESSED].append(raw_event)
        else:
            done[RawEvent.State.IGNORED if batch.ignored[raw_event.pk] else RawEvent.State.DUPLICATE].append(raw_event)
    for state, raw_events in done.items():
        now = timezone.now()
        RawEvent.objects.filter(pk__in=[raw_event.pk for raw_event in raw_events]).update(
            state=state, error="", available_at=None, processed_at=now
        )
        for raw_event in raw_events:
            raw_event.state, raw_event.error, raw_event.available_at, raw_event.processed_at = state, "", None, now
