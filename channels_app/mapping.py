"""Advanced Config's mapping of one payload onto call fields (its validation: advanced_config.py)."""

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from fnmatch import fnmatchcase
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings

from dialogs.calls import CANONICAL_STATUSES

TIME_FIELDS = ("timestamp", "started_at", "answered_at", "ended_at")
NUMBER_FIELDS = ("duration", "sequence")
TEXT_FIELDS = ("call_id", "caller_number", "callee_number", "operator_id", "recording_url", "parent_call_id")
# The longest value each text field's column holds; anything longer is cut (and noted), never a crash.
TEXT_LIMITS = {
    "call_id": 255,
    "caller_number": 64,
    "callee_number": 64,
    "operator_id": 255,
    "recording_url": 2000,
    "status": 64,
    "direction": 32,
}
CALL_FIELDS = {"status", "direction", "transcript_text", *TIME_FIELDS, *NUMBER_FIELDS, *TEXT_FIELDS}

MISSING = object()
NO_STATUS = object()


class MappingError(ValueError):
    """A payload that the channel's mapping cannot turn into a call event."""


@dataclass
class MappedEvent:
    """One provider event in Connective's words: canonical fields, extra fields, and notes for the feed."""

    fields: dict
    extra: dict = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (key, text); the key makes a note idempotent

    @property
    def call_id(self):
        return self.fields["call_id"]

    def as_json(self):
        return {"fields": self.fields, "extra": self.extra, "notes": [list(note) for note in self.notes]}


class Mapping:
    """A channel's Advanced Config, ready to map payloads. Build it from a validated config."""

    def __init__(self, config):
        self.field_mapping = config["field_mapping"]
        self.status_mapping = config.get("status_mapping", {})
        self.direction_mapping = config.get("direction_mapping", {})
        self.recordings = {"enabled": False, "download": False, **config.get("recordings", {})}
        self.transcription = {"enabled": False, "source": "provider", **config.get("transcription", {})}
        self.ignore = config.get("ignore", [])
        self.authentication = config.get("authentication", {"scheme": "token"})
        self.acknowledgement = config.get("acknowledgement")
        self.timezone = ZoneInfo(config["timezone"]) if config.get("timezone") else UTC

    def ignores(self, payload):
        """True for an event that is not a call (presence, chat…): stored and answered, never a dialog."""
        return any(ignore_rule_matches(rule, resolve_source(payload, rule["path"], None)) for rule in self.ignore)

    @property
    def has_status(self):
        """Without a status field, every event is a whole call (one webhook per call)."""
        return "status" in self.field_mapping

    def map(self, payload: dict) -> MappedEvent:
        event = MappedEvent(fields={})
        direction = self._direction(payload, event)
        for name, source in self.field_mapping.items():
            if name == "direction":
                continue
            if name == "status":
                value = first_known(payload, source, self.status_mapping, CANONICAL_STATUSES, direction)
                if value is NO_STATUS:
                    continue
            else:
                value = resolve_source(payload, source, direction)
            if value is MISSING:
                continue
            if name in CALL_FIELDS:
                self._set_call_field(event, name, value)
            else:
                event.extra[name] = value
        if direction is not None:
            event.fields["direction"] = direction
        if event.fields.get("parent_call_id"):  # a transfer leg: it belongs to the call it came from
            event.extra["leg_call_id"] = event.fields.get("call_id", "")
            event.fields["call_id"] = event.fields["parent_call_id"]
        if not event.fields.get("call_id"):
            raise MappingError(missing_path_message("call_id", self.field_mapping["call_id"], payload))
        if len(event.fields["call_id"]) > TEXT_LIMITS["call_id"]:
            raise MappingError(f"call_id: longer than {TEXT_LIMITS['call_id']} characters")
        for name, limit in TEXT_LIMITS.items():
            value = event.fields.get(name)
            if isinstance(value, str) and len(value) > limit:
                event.fields[name] = value[:limit]
                event.notes.append((f"too-long:{name}", f"{name}: longer than {limit} characters; cut."))
        return event

    def _direction(self, payload, event):
        source = self.field_mapping.get("direction")
        value = MISSING if source is None else first_known(payload, source, self.direction_mapping, ("in", "out"))
        if value is MISSING or value is NO_STATUS:
            return None
        mapped = lookup(self.direction_mapping, value)
        if mapped is not MISSING and mapped is not None:
            return mapped
        if value in ("in", "out"):
            return value
        event.notes.append(
            (f"unmapped-direction:{value}", f"Direction '{shown(value)}' is not in direction_mapping; kept as sent.")
        )
        return str(value)

    def _set_call_field(self, event, name, value):
        if name == "status":
            event.fields["status"] = self._status(value, event)
        elif name in TIME_FIELDS:
            self._set_time(event, name, value)
        elif name in NUMBER_FIELDS:
            number = parse_number(value)
            if number is None:
                event.notes.append(
                    (f"bad-number:{name}:{value}", f"{name}: '{shown(value)}' is not a number; ignored.")
                )
            else:
                event.fields[name] = number
        elif name == "transcript_text":
            event.fields[name] = value
        elif isinstance(value, (dict, list)):
            event.notes.append(
                (f"not-text:{name}", f"{name}: expected a single value, got {type(value).__name__}; ignored.")
            )
        elif name == "recording_url" and not is_web_url(str(value)):
            event.notes.append((f"not-web-url:{name}", f"{name}: '{shown(value)}' is not an http(s) URL; ignored."))
        else:
            event.fields[name] = str(value).strip()

    def _set_time(self, event, name, value):
        moment = parse_time(value, self.timezone)
        if moment is None:
            event.notes.append((f"bad-time:{name}:{value}", f"{name}: '{shown(value)}' is not a time; ignored."))
        elif not plausible_call_time(moment):
            event.notes.append(
                (
                    f"implausible-time:{name}:{value}",
                    f"{name}: '{shown(value)}' is outside the times "
                    f"a call can have ({settings.CALL_TIME_EARLIEST:%Y-%m-%d} to a day from now); ignored.",
                )
            )
        else:
            event.fields[name] = moment.isoformat()

    def _status(self, value, event):
        mapped = lookup(self.status_mapping, value)
        if mapped is not MISSING and mapped is not None:
            return mapped
        if value in CANONICAL_STATUSES:
            return value
        event.notes.append(
            (f"unmapped-status:{value}", f"Status '{shown(value)}' is not in status_mapping; kept as sent.")
        )
        return str(value)


def lookup(table, value):
    """A mapping table's value for a provider value: its exact key, else the first glob key that matches
    (`in_*` for Zadarma's pbx_call_id, `call:*`); MISSING when no key matches."""
    key = mapping_key(value)
    if key in table:
        return table[key]
    for pattern, mapped in table.items():
        if any(character in pattern for character in "*?[") and fnmatchcase(key, pattern):
            return mapped
    return MISSING


def first_known(payload, source, table, canonical, direction=None):
    """For status and direction given as several paths: the first value the mapping knows, else the first
    value present (kept as sent). A value the table maps to null is known to say nothing (Zadarma's
    NOTIFY_RECORD, sipgate's cause normalClearing): the next path is asked, and if none answers the event
    has no status (NO_STATUS)."""
    if isinstance(source, dict):
        source = source.get(direction, [])
    paths = [source] if isinstance(source, str) else list(source)
    present = [
        value
        for value in (resolve_path(payload, path) for path in paths)
        if value is not MISSING and value is not None and value != ""
    ]
    silent = False
    for value in present:
        mapped = lookup(table, value)
        if mapped is None:
            silent = True
        elif mapped is not MISSING or value in canonical:
            return value
    if silent:
        return NO_STATUS
    return present[0] if present else MISSING


def ignore_rule_matches(rule, value):
    """An `ignore` rule: the value matches one of `values`, or (with `not_values`) none of them."""
    if value is MISSING:
        return "not_values" in rule
    key = mapping_key(value)
    if "not_values" in rule:
        return not any(fnmatchcase(key, pattern) for pattern in rule["not_values"])
    return any(fnmatchcase(key, pattern) for pattern in rule["values"])


def mapping_key(value):
    """Config keys are strings: booleans are written "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_source(payload, source, direction):
    """The value a field_mapping entry points at: a path, a list of paths, or paths keyed by direction."""
    if isinstance(source, dict):
        if direction not in source:
            return MISSING
        source = source[direction]
    for path in [source] if isinstance(source, str) else source:
        value = resolve_path(payload, path)
        if value is not MISSING and value is not None and value != "":
            return value
    return MISSING


def resolve_path(data, path):
    """`a`, `a.b` or `items.0.b` (negative indexes count from the end); a key may itself hold dots."""
    if isinstance(data, dict) and path in data:
        return data[path]
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and part.isascii():
            index = int(part)
            if not -len(node) <= index < len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node


def replaced_at_path(data, path, value):
    """A copy of `data` with the value at `path` (as resolve_path reads it) replaced; `data` when absent."""
    if isinstance(data, dict) and path in data:
        return {**data, path: value}
    head, dot, rest = path.partition(".")
    if isinstance(data, dict) and head in data and dot:
        return {**data, head: replaced_at_path(data[head], rest, value)}
    if isinstance(data, list) and head.lstrip("-").isdigit() and head.isascii() and -len(data) <= int(head) < len(data):
        copy = list(data)
        copy[int(head)] = replaced_at_path(copy[int(head)], rest, value) if dot else value
        return copy
    return data


def missing_path_message(name, source, payload):
    keys = ", ".join(f"'{key}'" for key in list(payload)[:20]) if isinstance(payload, dict) else "no keys"
    return f"field_mapping.{name}: {json.dumps(source)} is not in the payload; the payload has {keys}"


def parse_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        if not number.is_finite():
            return None
    else:
        return None
    try:
        number = float(number)
    except OverflowError:  # an integer of hundreds of digits
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def plausible_call_time(moment):
    """Between CALL_TIME_EARLIEST and a day (CALL_TIME_FUTURE_SECONDS) from now: outside it a time is a
    provider's mistake or a hostile value, and the extremes are times the database cannot give back."""
    latest = datetime.now(UTC) + timedelta(seconds=settings.CALL_TIME_FUTURE_SECONDS)
    return settings.CALL_TIME_EARLIEST <= moment <= latest


def is_web_url(text):
    """Only http(s) URLs may become a dialog's recording: never javascript:, data: or file:."""
    try:
        return urlsplit(text.strip()).scheme.lower() in ("http", "https")
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        return False


def shown(value, limit=100):
    """A value as a feed message quotes it: short."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def parse_time(value, zone=UTC):
    """ISO 8601, RFC 2822, or epoch seconds or milliseconds; a time without a zone is taken in `zone`
    (the channel's time zone, UTC by default)."""
    number = parse_number(value)
    if number is not None:
        if number > 10**11:
            number /= 1000
        try:
            return datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        try:  # RFC 2822, as Twilio writes times: "Tue, 24 Nov 2026 10:00:00 +0000"
            moment = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
