"""What the panel's and the API's call history shows: its rows, and where a dialog's recording plays from."""

from django.db.models import BooleanField, ExpressionWrapper, Q

from connective.lib import outbound
from recordings.models import Recording

from .models import Dialog

# What a history row shows (the panel's and the API's): loading no more keeps a page of 50 cheap.
HISTORY_COLUMNS = (
    "call_id",
    "direction",
    "status",
    "caller_number",
    "callee_number",
    "duration",
    "started_at",
    "answered_at",
    "ended_at",
    "recording_url",
    "is_test",
    "channel__name",
    "channel__bot__name",
    "operator__email",
    "topic__alias",
    "topic__name",
)


def history(user):
    return (
        Dialog.objects.visible_to(user)
        .in_panel()
        .select_related("channel__bot", "operator", "topic")
        .only(*HISTORY_COLUMNS)
        .annotate(transcribed=ExpressionWrapper(~Q(transcript=""), output_field=BooleanField()))
    )


def recording_source(dialog):
    if not playable(dialog.recording_url):
        return ""
    if dialog.channel.mapping.recordings.get("playback") == "direct" and not our_copy(dialog):
        return dialog.recording_url
    return f"/panel/dialogs/{dialog.pk}/recording/"


def playable(url):
    """An http(s) URL as the connection would read it; anything else (javascript:, data:, file:…) is never
    placed in a player or fetched, whatever was stored."""
    try:
        outbound.parse(url)
    except outbound.RefusedAddress:
        return False
    return True


def our_copy(dialog):
    """The downloaded file of the dialog's recording, or None."""
    recording = Recording.objects.filter(dialog=dialog, state=Recording.State.READY).first()
    return recording if recording and recording.file else None
