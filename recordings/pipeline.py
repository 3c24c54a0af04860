"""What happens to a dialog's media when the call changes: the recording is linked or downloaded, a
provider's transcript is kept with its speaker turns, and auto transcription starts when it may."""

import logging

from django.db import transaction

from .models import Recording, Transcript

log = logging.getLogger(__name__)


def dialog_changed(dialog_id):
    from dialogs.models import Dialog, transcript_segments

    dialog = Dialog.objects.select_related("channel").filter(pk=dialog_id).first()
    if dialog is None:
        return
    keep_provider_transcript(dialog, transcript_segments)
    recording = sync_recording(dialog)
    if dialog.awaiting_transcription and recording is not None and recording.is_available:
        queue("recordings.tasks.transcribe_dialog", dialog.pk)


def keep_provider_transcript(dialog, transcript_segments):
    mapping = dialog.channel.mapping
    if not (mapping.transcription["enabled"] and mapping.transcription["source"] == "provider") or not dialog.transcript:
        return
    latest = next((event.fields["transcript_text"] for event in dialog.events.order_by("-received_at", "-id")
                   if event.fields.get("transcript_text") not in (None, "")), None)
    Transcript.objects.update_or_create(dialog=dialog, defaults={
        "source": Transcript.Source.PROVIDER, "text": dialog.transcript, "segments": transcript_segments(latest),
        "engine": "", "language": "", "seconds": None})


def sync_recording(dialog):
    """The dialog's Recording for its current URL: linked, or queued for download when the channel says so."""
    settings_of_channel = dialog.channel.mapping.recordings
    if not dialog.recording_url or not settings_of_channel["enabled"]:
        return None
    recording = Recording.objects.filter(dialog=dialog).first()
    if recording and recording.source_url == dialog.recording_url:
        return recording
    download = settings_of_channel.get("download", False)
    recording, _ = Recording.objects.update_or_create(dialog=dialog, defaults={
        "source_url": dialog.recording_url, "file": "", "attempts": 0, "last_error": "",
        "next_attempt_at": lost_task_deadline() if download else None,
        "state": Recording.State.PENDING if download else Recording.State.LINKED})
    if download:
        queue("recordings.tasks.download_recording", recording.pk)
    return recording


def queue(function, *args):
    from django_q.tasks import async_task

    try:
        async_task(function, *args)
    except Exception:  # a broker that is down: the sweep finds due downloads; transcription waits for the next change
        log.exception("could not queue %s%s", function, args)


def on_commit_dialog_changed(dialog_id):
    transaction.on_commit(lambda: dialog_changed(dialog_id))


def queue_due_downloads():
    """Downloads whose wait is over (a recording that was not ready yet): queue them again."""
    from django.utils import timezone

    due = Recording.objects.filter(state=Recording.State.PENDING, next_attempt_at__lte=timezone.now())
    ids = list(due.values_list("pk", flat=True)[:200])
    Recording.objects.filter(pk__in=ids).update(next_attempt_at=lost_task_deadline())
    for pk in ids:
        queue("recordings.tasks.download_recording", pk)
    return len(ids)


def queue_due_transcriptions():
    """Transcriptions whose task was lost (never ran, or its worker died) or whose retry is due: queue
    them again; the task's claim keeps a transcription from running twice."""
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    from dialogs.models import Dialog

    now = timezone.now()
    lost = Q(transcription_claimed_until__isnull=True, ready_at__lte=now - timedelta(minutes=10))
    due = (Dialog.objects.filter(awaiting_transcription=True, recording__state__in=[Recording.State.READY, Recording.State.LINKED])
           .filter(lost | Q(transcription_claimed_until__lte=now)))
    ids = list(due.values_list("pk", flat=True)[:200])
    for pk in ids:
        queue("recordings.tasks.transcribe_dialog", pk)
    return len(ids)


def lost_task_deadline():
    """When a queued download that never ran (a lost task) is queued again."""
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() + timedelta(minutes=10)
