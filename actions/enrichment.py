"""Webhook enrichment: a completed call's state goes through the channel's enrich action, and the
outputs (operator, topic, extra fields) land on the dialog before it appears in the operator panel.

Runs as a django-q2 task. Delivery is at least once: a task first claims its dialog's lease with a
conditional UPDATE, so a task delivered twice, or queued again after its run finished, does nothing. A
task that dies mid-run leaves the lease to run out, and the event worker queues it again then; a task the
broker lost is queued again by the same sweep after ENRICHMENT_REQUEUE_AFTER.
"""

import logging

from django.db import transaction
from django_q.tasks import async_task

from dialogs.models import Dialog, DialogChanges, EnrichmentState
from recordings.pipeline import on_commit_dialogs_changed

from .models import EnrichmentRun

log = logging.getLogger(__name__)


def queue_enrichment(dialog_id):
    try:
        async_task("actions.enrichment.enrich_dialog", dialog_id, task_name=f"enrich-dialog-{dialog_id}")
    except Exception:  # a broker that is down: the sweep queues it again later
        log.exception("could not queue enrichment of dialog %s", dialog_id)


def enrich_dialog(dialog_id):
    dialog = (
        Dialog.objects.select_related("channel__bot", "channel__enrich_action")
        .filter(pk=dialog_id, enrichment_state=EnrichmentState.PENDING)
        .first()
    )
    if dialog is None:
        return "not pending"
    action = dialog.channel.enrich_action
    if action is None:  # unset since the call completed: the call goes on from webhook data alone
        with transaction.atomic():
            pending = Dialog.objects.select_for_update().filter(pk=dialog_id, enrichment_state=EnrichmentState.PENDING)
            for dialog in pending:
                dialog.finish_without_enrichment()
                on_commit_dialogs_changed(dialog.changes.media_changed)
        return "no action"
    if not Dialog.claim_enrichment(dialog_id, action.lease_seconds()):
        return "another task holds it"
    result = action.run(dialog.call_state())
    with transaction.atomic():
        dialog = Dialog.objects.select_for_update().select_related("channel").get(pk=dialog_id)
        if dialog.enrichment_state != EnrichmentState.PENDING:
            return "already enriched"
        EnrichmentRun.record(dialog, action, result)
        dialog.apply_enrichment(result.outputs, result.error)
        on_commit_dialogs_changed(dialog.changes.media_changed)  # auto transcription may start now
    return "success" if result.ok else f"failed: {result.error}"


def requeue_stale_enrichments(now=None):
    """Queue again the enrichments whose task died or was lost (Dialog.stale_enrichments); the number
    queued again or given up."""
    changes = DialogChanges()
    again, given_up = Dialog.stale_enrichments(now, changes)
    for pk in again:
        queue_enrichment(pk)
    on_commit_dialogs_changed(changes.media_changed)
    return len(again) + given_up
