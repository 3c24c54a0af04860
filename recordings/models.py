from datetime import timedelta

from django.db import models
from django.utils import timezone

# Waits between download attempts: a provider's recording is often not ready when the call ends.
RETRY_DELAYS = [60, 300, 1800, 7200, 21600]


class Recording(models.Model):
    """A dialog's recording: the provider's URL, and our own copy when the channel downloads them."""

    class State(models.TextChoices):
        LINKED = "linked", "Linked (the provider keeps the file)"
        PENDING = "pending", "Waiting to download"
        READY = "ready", "Downloaded"
        FAILED = "failed", "Download failed"

    dialog = models.OneToOneField("dialogs.Dialog", on_delete=models.CASCADE, related_name="recording")
    source_url = models.URLField(max_length=2000)
    file = models.FileField(upload_to="recordings/%Y/%m/", blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.LINKED)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["next_attempt_at"], name="recording_due", condition=models.Q(state="pending"))]

    def __str__(self):
        return f"recording of {self.dialog_id} ({self.state})"

    @property
    def is_available(self):
        return self.state in (self.State.READY, self.State.LINKED)

    def schedule_retry(self, error):
        """Try again later, or give up after the last wait; the URL is kept either way."""
        self.attempts += 1
        self.last_error = error
        if self.attempts > len(RETRY_DELAYS):
            self.state, self.next_attempt_at = self.State.FAILED, None
            self.dialog.note(
                f"recording-failed:{self.source_url[:100]}",
                f"The recording could not be downloaded after {self.attempts} attempts: {error}. "
                "Its URL is kept; an administrator can retry from the admin.",
            )
        else:
            self.next_attempt_at = timezone.now() + timedelta(seconds=RETRY_DELAYS[self.attempts - 1])
        self.save()

    def refuse(self, error):
        """A file that will never do (not audio, too large, a forbidden address): no retry."""
        self.state, self.last_error, self.next_attempt_at = self.State.FAILED, error, None
        self.attempts += 1
        self.save()
        self.dialog.note(f"recording-refused:{self.source_url[:100]}", f"The recording was refused: {error}")

    @classmethod
    def transcription_obstacle(cls, dialog):
        """Why the transcription the dialog awaits cannot happen (its recording was refused or never came
        down), or "" while it still can. An administrator's retry of the download lifts it."""
        if not dialog.awaiting_transcription or dialog.transcript:
            return ""
        recording = cls.objects.filter(dialog=dialog).first()
        if recording is not None and recording.state == cls.State.FAILED:
            return f"the recording could not be used ({recording.last_error or 'its download failed'})"
        return ""

    def retry_now(self):
        self.state, self.attempts, self.last_error, self.next_attempt_at = self.State.PENDING, 0, "", timezone.now()
        self.save()


class Transcript(models.Model):
    """A dialog's transcript with where it came from: the provider's, or made here by an engine."""

    class Source(models.TextChoices):
        PROVIDER = "provider", "Provider"
        AUTO = "auto", "Auto transcription"

    dialog = models.OneToOneField("dialogs.Dialog", on_delete=models.CASCADE, related_name="transcript_record")
    source = models.CharField(max_length=16, choices=Source.choices)
    text = models.TextField(blank=True)
    segments = models.JSONField(default=list, blank=True, help_text="Speaker turns: speaker, start, end, text.")
    engine = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=16, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Time the engine took.")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"transcript of {self.dialog_id} ({self.source})"
