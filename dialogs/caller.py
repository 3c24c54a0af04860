"""The caller card: who is on the line (the number, and what the channel's caller lookup found) and their
earlier calls on the bots the user may see. Two queries whatever the history: a count and five rows, both
on the index dialog_customer_history."""

import json
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connective.lib import outbound

from .models import Dialog, customer_party

LAST_CALLS = 5
NAMED_OUTPUTS = ("caller_name", "caller_company", "caller_url")
MORE_OUTPUTS_SHOWN, OUTPUT_LENGTH_SHOWN = 12, 300
# A lookup still pending this long after its deadline will not end: its worker stopped mid-run.
LOOKUP_GRACE = timedelta(seconds=5)
LAST_CALL_COLUMNS = (
    "started_at",
    "direction",
    "status",
    "ready_at",
    "operator__email",
    "topic__name",
)


@dataclass
class CallerLookup:
    """What the card says of the caller lookup: `state` is "" (no lookup ran), pending, done or failed."""

    state: str = ""
    name: str = ""
    company: str = ""
    url: str = ""  # an http(s) link only
    more: list[tuple[str, str]] = field(default_factory=list)  # the action's other outputs, as text
    error: str = ""


@dataclass
class CallerCard:
    dialog: Dialog
    number: str  # as stored: E.164 when valid, else as sent
    valid: bool
    national: str
    earlier_calls: int
    last_calls: list[Dialog]
    lookup: CallerLookup

    @property
    def first_time(self):
        return bool(self.number) and self.earlier_calls == 0


def caller_card(dialog, user, now=None):
    number, valid = customer_party(dialog)
    if dialog.customer_key:
        earlier = earlier_calls(dialog, user)
        count = earlier.count()
        last = list(earlier.select_related("operator", "topic").only(*LAST_CALL_COLUMNS)[:LAST_CALLS]) if count else []
    else:  # a hidden number: nothing to match it with
        count, last = 0, []
    return CallerCard(
        dialog=dialog,
        number=number,
        valid=valid and bool(number),
        national=national_format(number) if valid else "",
        earlier_calls=count,
        last_calls=last,
        lookup=lookup_of(dialog.caller_lookup, now or timezone.now()),
    )


def earlier_calls(dialog, user):
    """The calls from or to the dialog's customer that began before it, newest first, finished or not."""
    calls = Dialog.objects.visible_to(user).filter(customer_key=dialog.customer_key).exclude(pk=dialog.pk)
    if dialog.started_at:
        moment = dialog.started_at
        calls = calls.filter(Q(started_at__lt=moment) | Q(started_at=moment, pk__lt=dialog.pk))
    return calls.order_by("-started_at", "-id")


def national_format(e164):
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def lookup_of(stored, now):
    """The card's view of a stored caller lookup ({state, outputs, error, at, deadline})."""
    state = stored.get("state", "")
    if state == "pending" and overdue(stored, now):
        return CallerLookup("failed", error=f"no answer within {stored.get('deadline', 0):g} s")
    if state == "failed":
        return CallerLookup("failed", error=as_text(stored.get("error") or "unknown error"))
    if state != "done":
        return CallerLookup(state)
    outputs = stored.get("outputs") or {}
    url = outputs.get("caller_url")
    more = [(name, as_text(value)) for name, value in outputs.items() if name not in NAMED_OUTPUTS]
    if url not in (None, "") and not is_link(url):
        more.insert(0, ("caller_url", as_text(url)))  # shown, never linked
    return CallerLookup(
        "done",
        name=as_text(outputs.get("caller_name", "")),
        company=as_text(outputs.get("caller_company", "")),
        url=url if is_link(url) else "",
        more=more[:MORE_OUTPUTS_SHOWN],
    )


def overdue(stored, now):
    started = parse_datetime(stored.get("at") or "")
    deadline = stored.get("deadline")
    if started is None or not isinstance(deadline, (int, float)):
        return True
    return now > started + timedelta(seconds=deadline) + LOOKUP_GRACE


def is_link(url):
    """An http(s) URL as a connection would read it: nothing else (javascript:, data:…) becomes a link."""
    try:
        outbound.parse(url)
    except outbound.RefusedAddress:
        return False
    return True


def as_text(value):
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= OUTPUT_LENGTH_SHOWN else text[: OUTPUT_LENGTH_SHOWN - 1] + "…"
