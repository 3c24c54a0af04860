"""django-q2 tasks: download a recording into storage, transcribe a call. Both are idempotent."""

import contextlib
import tempfile
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db.models import F, Q
from django.utils import timezone

from connective.lib import outbound
from dialogs.models import Dialog

from .audio import EXTENSIONS, declared_as_audio, sniff
from .engines import current_engine
from .models import Recording, Transcript
from .pipeline import start_transcription_if_awaited


def download_recording(recording_id):
    recording = (
        Recording.objects.select_related("dialog__channel")
        .filter(pk=recording_id, state=Recording.State.PENDING)
        .first()
    )
    if recording is None:
        return "not pending"
    try:
        with provider_file(recording) as response:
            if response.status_code != 200:
                recording.schedule_retry(
                    f"its host answered HTTP {response.status_code}{credential_hint(recording, response)}"
                )
                return "retry later"
            problem = store(recording, response)
    except outbound.OutboundError as exc:
        if exc.permanent:
            recording.refuse(str(exc))
            return "refused"
        recording.schedule_retry(str(exc))
        return "retry later"
    if problem:
        recording.refuse(problem)
        return "refused"
    start_transcription_if_awaited(recording.dialog_id)
    return "downloaded"


def credential_hint(recording, response):
    """Why a host that wants credentials did not get them, when that is the likely reason."""
    channel = recording.dialog.channel
    auth = channel.mapping.recordings.get("auth") or {"type": "none"}
    if (
        response.status_code in (401, 403)
        and auth["type"] != "none"
        and not channel.recording_request_options(recording.source_url)
    ):
        return (
            " (the recording credential is sent only to the hosts in recordings.auth.hosts, and this one is not listed)"
        )
    return ""


def store(recording, response):
    """Stream the answer into storage (never whole in memory); a reason to refuse it, or None."""
    limit = settings.RECORDING_MAX_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return f"the file is larger than {limit} bytes"
    content_type = response.headers.get("Content-Type", "")
    if not declared_as_audio(content_type):
        return f"its host sent {content_type.split(';')[0]}, not audio"
    with tempfile.TemporaryFile() as buffer:
        size, head = 0, b""
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                return f"the file is larger than {limit} bytes"
            if len(head) < 16:
                head += chunk[: 16 - len(head)]
            buffer.write(chunk)
        kind = sniff(head)
        if kind is None:
            return "the file is not WAV, MP3, OGG/Opus or M4A audio"
        buffer.seek(0)
        recording.file.save(f"dialog-{recording.dialog_id}.{EXTENSIONS[kind]}", File(buffer), save=False)
    recording.state, recording.content_type, recording.size = Recording.State.READY, kind, size
    recording.downloaded_at, recording.last_error, recording.next_attempt_at = timezone.now(), "", None
    recording.save()
    return None


def transcribe_dialog(dialog_id):
    dialog = claim_transcription(dialog_id)
    if dialog is None:
        return "not awaited, or another task has it"
    recording = Recording.objects.select_related("dialog__channel").filter(dialog=dialog).first()
    if recording is None or not recording.is_available:
        Dialog.objects.filter(pk=dialog.pk).update(transcription_claimed_until=None)
        return "no recording yet"
    engine = current_engine()
    try:
        with audio_file(recording) as path:
            result = engine.transcribe(path)
    except Exception as exc:  # the engine, the file, the network: the call stays, the failure is said
        return transcription_failed(dialog, exc)
    Transcript.objects.update_or_create(
        dialog=dialog,
        defaults={
            "source": Transcript.Source.AUTO,
            "text": result.text,
            "segments": result.segments,
            "engine": engine.name,
            "language": result.language,
            "seconds": round(result.seconds, 2),
        },
    )
    Dialog.objects.filter(pk=dialog.pk).update(
        transcript=result.text, awaiting_transcription=False, transcription_claimed_until=None
    )
    return "transcribed"


def claim_transcription(dialog_id):
    """The dialog, leased to this task, when it awaits a transcription that no other task holds now:
    a task delivered twice transcribes once."""
    now = timezone.now()
    claimed = (
        Dialog.objects.filter(pk=dialog_id, awaiting_transcription=True)
        .filter(Q(transcription_claimed_until__isnull=True) | Q(transcription_claimed_until__lte=now))
        .update(
            transcription_claimed_until=now + timedelta(seconds=settings.TRANSCRIPTION_LEASE_SECONDS),
            transcription_attempts=F("transcription_attempts") + 1,
        )
    )
    return Dialog.objects.select_related("channel").get(pk=dialog_id) if claimed else None


def transcription_failed(dialog, exc):
    """A briefly failing server or recording host is tried again later; anything else, or too many
    attempts, ends the wait with a service message."""
    transient = isinstance(exc, outbound.OutboundError) and not exc.permanent
    if transient and dialog.transcription_attempts < settings.TRANSCRIPTION_MAX_ATTEMPTS:
        retry_at = timezone.now() + timedelta(seconds=settings.TRANSCRIPTION_RETRY_SECONDS)
        Dialog.objects.filter(pk=dialog.pk).update(transcription_claimed_until=retry_at)
        dialog.note(
            f"transcription-retry:{dialog.transcription_attempts}",
            f"transcription attempt {dialog.transcription_attempts} failed ({exc}); trying again later",
        )
        return "will retry"
    dialog.note("transcription-failed", f"transcription failed: {exc}")
    Dialog.objects.filter(pk=dialog.pk).update(awaiting_transcription=False, transcription_claimed_until=None)
    return "failed"


@contextlib.contextmanager
def audio_file(recording):
    """A local file of the recording: our copy, or the provider's file fetched for the engine."""
    with tempfile.NamedTemporaryFile(suffix=".audio") as local:
        if recording.state == Recording.State.READY:
            with recording.file.open("rb") as stored:
                for chunk in stored.chunks():
                    local.write(chunk)
        else:
            with provider_file(recording) as response:
                if response.status_code != 200:
                    raise outbound.OutboundError(f"the recording's host answered HTTP {response.status_code}")
                size = 0
                for chunk in response.iter_content(64 * 1024):  # to disk, never whole in memory
                    size += len(chunk)
                    if size > settings.RECORDING_MAX_BYTES:
                        raise outbound.OutboundError(
                            f"the recording is larger than {settings.RECORDING_MAX_BYTES} bytes"
                        )
                    local.write(chunk)
        local.flush()
        yield local.name


def provider_file(recording):
    """The recording at its provider's URL, streamed, with the channel's credential where it may go."""
    return outbound.stream(
        "GET",
        recording.source_url,
        allowed_hosts=settings.RECORDINGS_ALLOWED_HOSTS,
        timeout=settings.RECORDING_DOWNLOAD_TIMEOUT,
        **recording.dialog.channel.recording_request_options(recording.source_url),
    )
