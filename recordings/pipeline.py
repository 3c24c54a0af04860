"""What happens to a dialog's media when the call changes: the recording is linked or downloaded, a
provider's transcript is kept with its speaker turns, and auto transcription starts when it may."""

import logging
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from connective.lib.sql import insert_many_unless_exist
from dialogs.models import Dialog, transcript_segments

from .models import Recording, Transcript

log = logging.getLogger(__name__)


def dialogs_changed(dialog_ids):
    """After the commit that changed these dialogs' media (read again: a later commit may have changed
    them since): keep the provider's transcript, sync the recording, start auto transcription."""
    try:
        dialogs = list(Dialog.objects.select_related("channel").filter(pk__in=dialog_ids))
        recordings = sync_recordings(dialogs)
    except Exception:  # after the commit: the merge stands, the URL is kept, and the next media change syncs again
        log.exception("syncing the recordings of dialogs %s failed", dialog_ids)
        return
    for dialog in dialogs:
        try:
            keep_provider_transcript(dialog, transcript_segments)
            recording = recordings.get(dialog.pk)
            if dialog.awaiting_transcription and recording is not None and recording.is_available:
                queue("recordings.tasks.transcribe_dialog", dialog.pk)
        except Exception:  # one dialog's trouble is not the others'
            log.exception("keeping the media of dialog %s failed", dialog.pk)


def keep_provider_transcript(dialog, transcript_segments):
    mapping = dialog.channel.mapping
    if (
        not (mapping.transcription["enabled"] and mapping.transcription["source"] == "provider")
        or not dialog.transcript
    ):
        return
    latest = next(
        (
            event.fields["transcript_text"]
            for event in dialog.events.order_by("-received_at", "-id")
            if event.fields.get("transcript_text") not in (None, "")
        ),
        None,
    )
    Transcript.objects.update_or_create(
        dialog=dialog,
        defaults={
            "source": Transcript.Source.PROVIDER,
            "text": dialog.transcript,
            "segments": transcript_segments(latest),
            "engine": "",
            "language": "",
            "seconds": None,
        },
    )


def sync_recordings(dialogs):
    """{dialog pk: its Recording for its current URL}, linked or queued for download as its channel says;
    new recordings in one statement."""
    with_urls = [dialog for dialog in dialogs if dialog.recording_url and dialog.channel.mapping.recordings["enabled"]]
    if not with_urls:
        return {}
    existing = {recording.dialog_id: recording for recording in Recording.objects.filter(dialog__in=with_urls)}
    current, new = {}, []
    for dialog in with_urls:
        recording = existing.get(dialog.pk)
        if recording is None:
            new.append(Recording(dialog=dialog, **recording_fields(dialog)))
        elif recording.source_url == dialog.recording_url:
            current[dialog.pk] = recording
        else:
            current[dialog.pk] = replace_recording(dialog)
    inserted = insert_many_unless_exist(new, conflict_fields=["dialog"])
    for recording in inserted:
        current[recording.dialog_id] = recording
        if recording.state == Recording.State.PENDING:
            queue("recordings.tasks.download_recording", recording.pk)
    for recording in (recording for recording in new if recording.pk is None):  # made by another worker just now
        made = Recording.objects.get(dialog=recording.dialog)
        same = made.source_url == recording.dialog.recording_url
        current[recording.dialog_id] = made if same else replace_recording(recording.dialog)
    return current


def recording_fields(dialog):
    download = dialog.channel.mapping.recordings.get("download", False)
    return {
        "source_url": dialog.recording_url,
        "file": "",
        "attempts": 0,
        "last_error": "",
        "next_attempt_at": lost_task_deadline() if download else None,
        "state": Recording.State.PENDING if download else Recording.State.LINKED,
    }


def replace_recording(dialog):
    """The recording of the dialog's new URL, in place of the one it had."""
    recording, _ = Recording.objects.update_or_create(dialog=dialog, defaults=recording_fields(dialog))
    if recording.state == Recording.State.PENDING:
        queue("recordings.tasks.download_recording", recording.pk)
    return recording


def start_transcription_if_awaited(dialog_id):
    """After the download's commit: queue the transcription if the dialog awaits one now. Read fresh, not
    from the dialog the task loaded before its download: enrichment may have committed in between, and
    its own after-commit check saw the recording still pending. Whichever of the two commits second sees
    both changes, so one of them queues it (a task queued twice transcribes once: it claims the dialog)."""

    def start():
        if Dialog.objects.filter(pk=dialog_id, awaiting_transcription=True).exists():
            queue("recordings.tasks.transcribe_dialog", dialog_id)

    transaction.on_commit(start)


def queue(function, *args):
    try:
        async_task(function, *args)
    except Exception:  # a broker that is down: the sweep finds due downloads; transcription waits for the next change
        log.exception("could not queue %s%s", function, args)


def on_commit_dialogs_changed(dialog_ids):
    if dialog_ids:
        transaction.on_commit(partial(dialogs_changed, list(dialog_ids)))


def queue_due_downloads():
    """Downloads whose wait is over (a recording that was not ready yet): queue them again."""
    due = Recording.objects.filter(state=Recording.State.PENDING, next_attempt_at__lte=timezone.now())
    ids = list(due.values_list("pk", flat=True)[:200])
    Recording.objects.filter(pk__in=ids).update(next_attempt_at=lost_task_deadline())
    for pk in ids:
        queue("recordings.tasks.download_recording", pk)
    return len(ids)


def queue_due_transcriptions():
    """Transcriptions whose task was lost (never ran, or its worker died) or whose retry is due: queue
    them again; the task's claim keeps a transcription from running twice."""
    now = timezone.now()
    lost = Q(transcription_claimed_until__isnull=True, ready_at__lte=now - timedelta(minutes=10))
    due = Dialog.objects.filter(
        awaiting_transcription=True, recording__state__in=[Recording.State.READY, Recording.State.LINKED]
    ).filter(lost | Q(transcription_claimed_until__lte=now))
    ids = list(due.values_list("pk", flat=True)[:200])
    for pk in ids:
        queue("recordings.tasks.transcribe_dialog", pk)
    return len(ids)


def lost_task_deadline():
    """When a queued download that never ran (a lost task) is queued again."""
    return timezone.now() + timedelta(minutes=10)
