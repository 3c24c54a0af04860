"""The history's filters and keyset pages, shared by the operator panel and the API."""

from datetime import datetime, time

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .calls import CANONICAL_STATUSES
from .numbers import to_e164

PAGE_SIZE = 50


def number_digit_variants(query, country_codes):
    """The digits a typed number may stand for: as typed, and normalised with each channel's country."""
    typed = "".join(character for character in query if character.isdigit())
    variants = {typed} if len(typed) >= 3 else set()
    for code in country_codes:
        e164 = to_e164(query, code)
        if e164:
            variants.add(e164.lstrip("+"))
    return variants


def apply_filters(dialogs, params, user):
    """Narrow `dialogs` by the request's parameters; unknown or empty parameters are ignored."""
    if params.get("bot", "").isdigit():
        dialogs = dialogs.filter(channel__bot_id=params["bot"])
    if params.get("channel", "").isdigit():
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
    elif operator.isdigit():
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
    day = parse_date(value or "")
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end_of_day else time.min))


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
    moment = parse_datetime(moment) if moment else None
    if not pk.isdigit() or moment is None:
        return None
    return moment, int(pk)


def visible_channels(user):
    from channels_app.models import TelephonyChannel

    channels = TelephonyChannel.objects.select_related("bot").order_by("bot__name", "name")
    return channels if user.is_staff else channels.filter(bot__members=user)
