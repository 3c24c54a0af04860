"""The live board: the calls ringing or in progress now, as the operator panel shows them and its stream pushes
them. A call's state here is the dialog as it is when read, so a late or repeated message never shows an old one."""

import json
from dataclasses import dataclass

from django.db.models import Max, Min
from django.urls import reverse

from .models import Dialog, LiveUpdate

BOARD_LIMIT = 200  # calls on the board at most: more than any team watches at once
REPLAY_LIMIT = 5000  # a stream away for more changes than this gets the whole board instead
STATE_COLUMNS = (
    "call_id",
    "direction",
    "status",
    "caller_number",
    "callee_number",
    "caller_number_valid",
    "callee_number_valid",
    "started_at",
    "answered_at",
    "completed_at",
    "ready_at",
    "is_test",
    "channel__name",
    "channel__bot_id",
    "channel__bot__name",
    "operator__email",
    "operator__first_name",
    "operator__last_name",
    "topic__name",
    "caller_lookup",
)


@dataclass(frozen=True)
class Viewer:
    """Who a stream is for: what they may see, and which ringing calls concern them."""

    user_id: int
    is_staff: bool
    bot_ids: frozenset

    @classmethod
    def of(cls, user):
        return cls(user.pk, user.is_staff, frozenset(user.bots.values_list("id", flat=True)))

    def may_see(self, state):
        return state["phase"] == "gone" or self.is_staff or state["bot_id"] in self.bot_ids

    def is_concerned(self, state):
        """A ringing call concerns the operator the provider named, else every member of its bot."""
        if state["phase"] != "ringing":
            return False
        if state["operator_user_id"]:
            return state["operator_user_id"] == self.user_id
        return state["bot_id"] in self.bot_ids


def phase_of(dialog):
    if dialog.completed_at is not None:
        return "ended"
    if dialog.answered_at is not None or dialog.status in ("connected", "answered"):
        return "connected"
    return "ringing"


def state_of(dialog, seq):
    """The call as the board shows it; `bot_id` and `operator_user_id` are for choosing viewers, never sent."""
    operator = dialog.operator
    return {
        "id": dialog.pk,
        "seq": seq,
        "phase": phase_of(dialog),
        "status": dialog.status,
        "direction": dialog.direction,
        "caller_number": dialog.caller_number,
        "callee_number": dialog.callee_number,
        "customer_number": dialog.customer_number,
        "operator": (operator.get_full_name() or operator.email) if operator else "",
        "channel": dialog.channel.name,
        "bot": dialog.channel.bot.name,
        "topic": dialog.topic.name if dialog.topic else "",
        "started_at": dialog.started_at.isoformat() if dialog.started_at else None,
        "answered_at": dialog.answered_at.isoformat() if dialog.answered_at else None,
        "is_test": dialog.is_test,
        "in_history": dialog.ready_at is not None,
        "caller_name": str((dialog.caller_lookup or {}).get("outputs", {}).get("caller_name") or "")[:200],
        "lookup": (dialog.caller_lookup or {}).get("state", ""),
        "url": reverse("panel-dialog", args=[dialog.pk]),
        "bot_id": dialog.channel.bot_id,
        "operator_user_id": dialog.operator_id,
    }


def gone(pk, seq):
    """A dialog deleted since its change (an event moved to another call): the board drops it."""
    return {"id": pk, "seq": seq, "phase": "gone"}


PRIVATE_KEYS = ("bot_id", "operator_user_id")


def public_state(state, viewer):
    """What a viewer's stream shows of a state: nothing when they may not see it."""
    if not viewer.may_see(state):
        return None
    public = {key: value for key, value in state.items() if key not in PRIVATE_KEYS}
    public["notify"] = state["phase"] != "gone" and viewer.is_concerned(state)
    return public


def message_for(state, viewer):
    public = public_state(state, viewer)
    return json.dumps(public, separators=(",", ":")) if public is not None else None


def states(seq_by_dialog):
    """{dialog id: seq} -> the dialogs' states, read now ("gone" for those deleted since)."""
    dialogs = (
        Dialog.objects.filter(pk__in=list(seq_by_dialog))
        .select_related("channel__bot", "operator", "topic")
        .only(*STATE_COLUMNS)
    )
    found = {dialog.pk: state_of(dialog, seq_by_dialog[dialog.pk]) for dialog in dialogs}
    return [found.get(pk) or gone(pk, seq) for pk, seq in seq_by_dialog.items()]


def live_calls(user, seq):
    """The board: the calls the user may see that ring or are in progress now, newest first."""
    dialogs = (
        Dialog.objects.visible_to(user)
        .filter(completed_at__isnull=True)
        .select_related("channel__bot", "operator", "topic")
        .only(*STATE_COLUMNS)
        .order_by("-started_at", "-id")[:BOARD_LIMIT]
    )
    return [state_of(dialog, seq) for dialog in dialogs]


def board(user, viewer):
    """The board as a viewer sees it, and the change it is as of: read first, so that a stream resuming after it
    misses nothing committed while the board was read."""
    seq = LiveUpdate.latest_id()
    calls = [public for state in live_calls(user, seq) if (public := public_state(state, viewer))]
    return {"calls": calls, "cursor": seq}


def changes_since(after):
    """The states of the dialogs changed after change `after`, oldest change first; None when the changes are
    no longer all kept (or too many): the stream sends the whole board instead."""
    kept = LiveUpdate.objects.aggregate(first=Min("id"), latest=Max("id"))
    if after > (kept["latest"] or 0) or (kept["first"] is not None and after < kept["first"] - 1):
        return None
    rows = LiveUpdate.objects.filter(id__gt=after).order_by("id").values_list("id", "dialog_id")[: REPLAY_LIMIT + 1]
    if len(rows) > REPLAY_LIMIT:
        return None
    seq_by_dialog = {}
    for pk, dialog_id in rows:  # each dialog once, at its latest change, in the order of those changes
        seq_by_dialog.pop(dialog_id, None)
        seq_by_dialog[dialog_id] = pk
    return states(seq_by_dialog)
