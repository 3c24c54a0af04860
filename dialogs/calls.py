"""The call state machine: folds a call's events, in order, into the fields of its dialog.

Pure functions over mapped events, so the same events give the same dialog in any arrival order.
"""

from dataclasses import dataclass, field
from datetime import datetime

IN_PROGRESS_STATUSES = ("ringing", "connected")
TERMINAL_STATUSES = ("answered", "missed", "busy", "rejected", "failed", "voicemail", "ended")
CANONICAL_STATUSES = IN_PROGRESS_STATUSES + TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One provider event on its way into its call's dialog: the stored delivery it came in (a RawEvent),
    its position in that delivery's body, the payload and its mapping (a MappedEvent)."""

    raw_event: object  # channels_app.models.RawEvent (dialogs imports nothing of channels_app)
    position: int
    payload: dict
    mapped: object  # channels_app.mapping.MappedEvent


@dataclass
class CallEventView:
    """What the fold needs of one stored event."""

    fields: dict
    extra: dict
    received_at: datetime
    order: tuple = ()  # tie-breaker: (raw event id, position in its body)

    def time(self):
        value = self.fields.get("timestamp")
        return datetime.fromisoformat(value) if value else self.received_at

    def sort_key(self):
        sequence = self.fields.get("sequence")
        return (sequence is None, sequence or 0, self.time(), self.order)


@dataclass
class CallState:
    direction: str | None = None
    caller_number: str = ""
    callee_number: str = ""
    operator_id: str = ""
    recording_url: str = ""
    transcript: object = None
    status: str = ""
    duration: float | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    is_complete: bool = False
    extra: dict = field(default_factory=dict)


def fold(events, one_event_per_call, swept=False):
    """The state of a call after all its events.

    `one_event_per_call`: the channel maps no status, so each event is a whole call.
    `swept`: the sweep gave up waiting for a terminal event, so the call is complete as it stands.
    """
    events = sorted(events, key=CallEventView.sort_key)
    state = CallState()
    last_status = terminal = None
    first_time = connected_at = terminal_at = None
    explicit = {}
    for event in events:
        values, moment = event.fields, event.time()
        first_time = min(first_time, moment) if first_time else moment
        for name in ("direction", "caller_number", "callee_number", "operator_id", "recording_url"):
            if values.get(name):
                setattr(state, name, values[name])
        if values.get("transcript_text") not in (None, ""):
            state.transcript = values["transcript_text"]
        if values.get("duration") is not None:
            state.duration = values["duration"]
        for name in ("started_at", "answered_at", "ended_at"):
            if values.get(name):
                explicit[name] = datetime.fromisoformat(values[name])
        state.extra.update(event.extra)
        status = values.get("status")
        if status in ("connected", "answered") and connected_at is None:
            connected_at = moment
        if status in TERMINAL_STATUSES:
            terminal, terminal_at = status, moment
        elif status:
            last_status = status

    state.started_at = explicit.get("started_at", first_time)
    state.answered_at = explicit.get("answered_at", connected_at)
    state.ended_at = explicit.get("ended_at", terminal_at)
    if one_event_per_call:
        state.status = "answered" if (state.duration or 0) > 0 else "missed"
        state.is_complete = True
    elif terminal:
        state.status = resolve_ended(terminal, answered=connected_at is not None)
        state.is_complete = True
    elif swept:
        in_progress = last_status in IN_PROGRESS_STATUSES or not last_status
        state.status = resolve_ended("ended", connected_at is not None) if in_progress else last_status
        state.is_complete = True
    else:
        state.status = last_status or ""
    if state.is_complete and state.duration is None:
        state.duration = talk_time(state)
    return state


def resolve_ended(status, answered):
    """`ended` says only that the call is over: its outcome comes from whether it was answered."""
    if status == "ended":
        return "answered" if answered else "missed"
    return status


def talk_time(state):
    if state.status == "answered" and state.answered_at and state.ended_at:
        return max((state.ended_at - state.answered_at).total_seconds(), 0.0)
    return 0.0
