"""The history's filters and keyset pages, shared by the operator panel and the API."""

import re
from datetime import UTC, datetime, time

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from channels_app.models import TelephonyChannel

from .calls import CANONICAL_STATUSES
from .numbers import to_e164

PAGE_SIZE = 50
MAX_ID = 2**63 - 1  # a bigint: a larger id cannot name a row, and the database refuses to compare with it
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
ASCII_DIGITS = re.compile(r"[0-9]+")
LABELS = {
    "bot": "Bot",
    "channel": "Channel",
    "direction": "Direction",
    "status": "Status",
    "operator": "Operator",
    "topic": "Topic",
    "from": "From",
    "to": "To",
    "recording": "Recording",
    "test": "Test calls",
    "q": "Phone number",
    "after": "Page",
    "newer_than": "Newer than",
}
MAX_TEXT = {"topic": 100, "q": 64}


def number_digit_variants(query, country_codes):
    """The digits a typed number may stand for: as typed, and normalised with each channel's country."""
    typed = "".join(ASCII_DIGITS.findall(query))
    variants = {typed} if len(typed) >= 3 else set()
    for code in country_codes:
        e164 = to_e164(query, code)
        if e164:
            variants.add(e164.lstrip("+"))
    return variants


def filter_problems(params):
    """{parameter: why its value cannot be used} for the filters that name no possible row: a date that does not
    exist, a malformed cursor, an id that is not one, a control character. The panel ignores them and says
    so; the API answers 400. An unknown value of a choice (a status the panel does not offer) is merely ignored."""
    problems = {}
    for name, label in LABELS.items():
        value = params.get(name, "")
        if value and (problem := value_problem(name, value)):
            problems[name] = f"{label}: {problem}"
    return problems


def value_problem(name, value):
    if CONTROL_CHARACTERS.search(value):
        return "contains a control character"
    if name in MAX_TEXT and len(value) > MAX_TEXT[name]:
        return f"longer than {MAX_TEXT[name]} characters"
    if name in ("bot", "channel") or (name == "operator" and value not in ("me", "none")):
        return None if is_id(value) else "not an id"
    if name in ("from", "to"):
        return None if day_start(value) else f"'{value}' is not a date (YYYY-MM-DD)"
    if name in ("after", "newer_than"):
        return (
            None
            if value.startswith("~") and is_id(value[1:]) or parse_cursor(value)
            else "not a cursor this server gave"
        )
    return None


def is_id(value):
    return bool(ASCII_DIGITS.fullmatch(value)) and int(value) <= MAX_ID


def usable(params):
    """The parameters without those filter_problems() names."""
    problems = filter_problems(params)
    usable = params.copy()
    for name in problems:
        usable.pop(name)
    return usable


def apply_filters(dialogs, params, user):
    """Narrow `dialogs` by the request's parameters; unknown or empty parameters, and those that
    filter_problems() names, are ignored."""
    params = usable(params)
    if is_id(params.get("bot", "")):
        dialogs = dialogs.filter(channel__bot_id=params["bot"])
    if is_id(params.get("channel", "")):
        dialogs = dialogs.filter(channel_id=params["channel"])
    if params.get("direction") in ("in", "out"):
        dialogs = dialogs.filter(direction=params["direction"])
    if params.get("status") in CANONICAL_STATUSES:
        dialogs = dialogs.filter(status=params["status"])
    operator = params.get("operator", "")
    if operator == "me":
        dialogs = dialogs.filter(operator=user)
    elif operator == "none":
        dialogs = dialogs.filter(operator__isnull=True)
    elif is_id(operator):
        dialogs = dialogs.filter(operator_id=operator)
    if params.get("topic"):
        dialogs = dialogs.filter(topic__alias=params["topic"])
    if start := day_start(params.get("from")):
        dialogs = dialogs.filter(started_at__gte=start)
    if end := day_start(params.get("to"), end_of_day=True):
        dialogs = dialogs.filter(started_at__lte=end)
    if params.get("recording") in ("1", "0"):
        dialogs = dialogs.exclude(recording_url="") if params["recording"] == "1" else dialogs.filter(recording_url="")
    if params.get("test") != "1":
        dialogs = dialogs.filter(is_test=False)
    if query := params.get("q", "").strip():
        codes = set(visible_channels(user).values_list("default_country_code", flat=True).distinct()[:20]) or {""}
        variants = number_digit_variants(query, codes)
        if not variants:
            return dialogs.none()
        matches = Q()
        for digits in variants:
            matches |= Q(number_digits__contains=digits)
        dialogs = dialogs.filter(matches)
    return dialogs


def day_start(value, end_of_day=False):
    """The first (or last) moment of the day `value` names, or None for no date, an impossible one (2026-02-30),
    or one whose moment the database cannot hold."""
    try:
        day = parse_date(value or "")
        if day is None:
            return None
        return in_range(timezone.make_aware(datetime.combine(day, time.max if end_of_day else time.min)))
    except ValueError:
        return None


def page(dialogs, after=None, size=PAGE_SIZE):
    """One page of the history, newest first, after the cursor `after` (no OFFSET: fast on any page)."""
    dialogs = dialogs.order_by("-started_at", "-id")
    cursor = parse_cursor(after)
    if cursor:
        moment, pk = cursor
        dialogs = dialogs.filter(Q(started_at__lt=moment) | Q(started_at=moment, id__lt=pk))
    rows = list(dialogs[: size + 1])
    next_cursor = cursor_of(rows[size - 1]) if len(rows) > size else None
    return rows[:size], next_cursor


def newer_than(dialogs, cursor):
    """Dialogs newer than the cursor of the history's first row, newest first: for live updates."""
    parsed = parse_cursor(cursor)
    newer = dialogs  # an empty list: everything is new
    if parsed:
        moment, pk = parsed
        newer = dialogs.filter(Q(started_at__gt=moment) | Q(started_at=moment, id__gt=pk))
    return list(newer.order_by("-started_at", "-id")[:PAGE_SIZE])


def cursor_of(dialog):
    return f"{dialog.started_at.isoformat()}~{dialog.pk}" if dialog.started_at else f"~{dialog.pk}"


def parse_cursor(value):
    moment, _, pk = (value or "").partition("~")
    try:
        moment = parse_datetime(moment) if moment else None
    except ValueError:  # shaped like a time, but not one (February 30th)
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if not is_id(pk) or moment is None or not in_range(moment):
        return None
    return moment, int(pk)


def in_range(moment):
    """`moment`, or None when it is outside what a database can hold once in UTC (year 1 to 9999)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment


def visible_channels(user):
    channels = TelephonyChannel.objects.select_related("bot").order_by("bot__name", "name")
    return channels if user.is_staff else channels.filter(bot__members=user)
