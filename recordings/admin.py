from django.contrib import admin

from .models import Recording, Transcript
from .pipeline import queue


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["dialog", "state", "size", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["state"]
    readonly_fields = [
        "dialog",
        "source_url",
        "file",
        "state",
        "content_type",
        "size",
        "attempts",
        "next_attempt_at",
        "last_error",
        "downloaded_at",
    ]
    actions = ["retry_download"]

    @admin.action(description="Retry the download now")
    def retry_download(self, request, queryset):
        for recording in queryset.exclude(state=Recording.State.READY):
            recording.retry_now()
            queue("recordings.tasks.download_recording", recording.pk)
        self.message_user(request, "Downloads queued again.")


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    list_display = ["dialog", "source", "engine", "language", "seconds", "created_at"]
    list_filter = ["source", "engine"]
    readonly_fields = ["dialog", "source", "text", "segments", "engine", "language", "seconds", "created_at"]
