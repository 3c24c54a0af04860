"""Helping an administrator fit a mapping to what a provider really sends: a synthetic test payload built
from the mapping, a preview of a stored event through the mapping, and a suggested mapping."""

import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus, unquote_plus, urlencode

import phonenumbers

from connective.lib.encryption import masked
from dialogs.calls import TERMINAL_STATUSES

from .countries import example_number
from .mapping import CALL_FIELDS, MISSING, MappingError, resolve_path, resolve_source
from .parsing import BodyError

# --- The Test button's payload ------------------------------------------------------------------------


def synthetic_event(channel, operator_email=""):
    """A complete call in the channel's own words: every mapped field set at its path."""
    mapping = channel.mapping
    config = channel.advanced_config
    direction = "in"
    call_id = f"connective-test-{uuid.uuid4().hex[:12]}"
    values = {
        "call_id": call_id,
        "parent_call_id": call_id,
        "caller_number": example_number(channel.default_country_code),
        "callee_number": example_number(channel.default_country_code, phonenumbers.PhoneNumberType.FIXED_LINE),
        "operator_id": operator_email,
        "duration": 42,
        "timestamp": datetime.now(UTC).isoformat(),
        "started_at": datetime.now(UTC).isoformat(),
        "sequence": 1,
        "transcript_text": "This is a test call sent by the Test button of Connective.",
        "status": provider_value(
            config.get("status_mapping", {}), ["answered", "ended", *TERMINAL_STATUSES], "answered"
        ),
        "direction": provider_value(config.get("direction_mapping", {}), [direction], direction, call_id),
    }
    payload = {}
    for name, source in mapping.field_mapping.items():
        if name in ("answered_at", "ended_at", "recording_url"):
            continue
        path = first_path(source, direction)
        value = values.get(name, "test")
        if name == "direction" and value in ("true", "false"):
            value = value == "true"
        taken = path and resolve_path(payload, path) is not MISSING
        if path and value != "" and not (taken and name not in CALL_FIELDS):  # extras never overwrite call fields
            put_path(payload, path, value)
    for rule in config.get("ignore", []):
        if "not_values" in rule and resolve_path(payload, rule["path"]) is MISSING:
            put_path(payload, rule["path"], concrete(rule["not_values"][0], "test"))  # a call event, not ignored
    return payload


def provider_value(mapping, wanted, default, filler="test"):
    """The provider's value that the mapping turns into the first of `wanted` it knows (a glob key such as
    `in_*` made concrete with `filler`)."""
    for canonical in wanted:
        for provider, mapped in mapping.items():
            if mapped == canonical:
                return concrete(provider, filler)
    return default


def concrete(pattern, filler):
    return re.sub(r"\*|\?|\[[^\]]*\]", lambda _: filler, pattern)


def first_path(source, direction):
    if isinstance(source, dict):
        source = source.get(direction) or next(iter(source.values()))
    return source if isinstance(source, str) else source[0]


def put_path(payload, path, value):
    parts = path.split(".")
    node = payload
    for part, following in zip(parts, parts[1:] + [None], strict=True):
        if following is None:
            set_item(node, part, value)
            return
        child = get_item(node, part)
        if child is None:
            child = [] if following.lstrip("-").isdigit() else {}
            set_item(node, part, child)
        node = child


def get_item(node, part):
    if isinstance(node, list):
        index = int(part)
        return node[index] if -len(node) <= index < len(node) else None
    return node.get(part)


def set_item(node, part, value):
    if isinstance(node, list):
        index = int(part)
        while len(node) <= index:
            node.append({})
        node[index] = value
    else:
        node[part] = value


def form_encoded(payload):
    """The payload as a form body in PHP bracket notation, the way form-posting providers send nesting."""
    pairs = []

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else key, item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            pairs.append((prefix, "true" if value is True else "false" if value is False else value))

    walk("", payload)
    return urlencode(pairs)


# --- Preview of a stored event ------------------------------------------------------------------------


def preview(channel, payload):
    """Rows of (field, configured path, value found, problem) for one payload, and the mapped event or the
    mapping error."""
    mapping = channel.mapping
    try:
        mapped = mapping.map(payload)
        error = ""
    except MappingError as exc:
        mapped, error = None, str(exc)
    direction = mapped.fields.get("direction") if mapped else None
    notes = dict(mapped.notes) if mapped else {}
    rows = []
    for name, source in mapping.field_mapping.items():
        raw = resolve_source(payload, source, direction if name != "direction" else None)
        if mapped is None:
            value = None
        elif name in CALL_FIELDS:
            value = mapped.fields.get(name)
        else:
            value = mapped.extra.get(name)
        problem = ""
        if raw is MISSING:
            problem = "missing: the payload has nothing at this path"
        elif name in ("status", "direction") and any(key.startswith(f"unmapped-{name}") for key in notes):
            problem = f"unmapped value: add '{raw}' to {name}_mapping"
        rows.append(
            {
                "field": name,
                "source": source,
                "raw": None if raw is MISSING else raw,
                "value": value,
                "problem": problem,
            }
        )
    return rows, mapped, error


# --- A suggested mapping ------------------------------------------------------------------------------

HINTS = [
    ("call_id", re.compile(r"(^|[._-])(call_?id|callsid|uuid|call_uuid|pbx_call_id|id)$", re.I)),
    ("status", re.compile(r"(status|state|disposition|event|type)$", re.I)),
    ("direction", re.compile(r"(direction|incoming|inbound)$", re.I)),
    ("duration", re.compile(r"(duration|billsec|talk_?time|length)$", re.I)),
    ("recording_url", re.compile(r"(record|recording).*(url|path|link)|recording_?url$", re.I)),
    ("transcript_text", re.compile(r"transcript", re.I)),
    ("timestamp", re.compile(r"(timestamp|time|date|created)$", re.I)),
    ("sequence", re.compile(r"(seq|sequence|seq_num)$", re.I)),
]
CALLER = re.compile(r"(caller|from|src|source|remote|cli|calling)", re.I)
CALLEE = re.compile(r"(callee|to|dst|destination|called|local|did)", re.I)


def leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:3]):
            yield from leaves(value, f"{prefix}.{index}")
    else:
        yield prefix, node


def looks_like_number(value):
    digits = re.sub(r"[\s()+\-.]", "", str(value))
    return isinstance(value, (str, int)) and not isinstance(value, bool) and digits.isdigit() and 7 <= len(digits) <= 15


def suggest_mapping(payload):
    """A field_mapping proposed from one payload's keys and values, for an administrator to review."""
    suggestion = {}
    numbers = []
    for path, value in leaves(payload):
        last = path.rsplit(".", 1)[-1]
        if isinstance(value, str) and "@" in value and "operator_id" not in suggestion:
            suggestion["operator_id"] = path
            continue
        if looks_like_number(value) and not re.search(r"(id|time|date|duration|seq)", last, re.I):
            numbers.append(path)
            continue
        for field, pattern in HINTS:
            target = path if field == "recording_url" else last  # "recording.url" names it in two parts
            if field not in suggestion and pattern.search(target):
                if field == "recording_url" and not (isinstance(value, str) and value.startswith("http")):
                    continue
                suggestion[field] = path
                break
    callers = [p for p in numbers if CALLER.search(p)] or numbers[:1]
    callees = [p for p in numbers if CALLEE.search(p) and p not in callers] or [p for p in numbers if p not in callers][
        :1
    ]
    if callers:
        suggestion["caller_number"] = callers[0]
    if callees:
        suggestion["callee_number"] = callees[0]
    if resolve_path(payload, suggestion.get("call_id", "")) is MISSING:
        suggestion.pop("call_id", None)
    return suggestion


# --- A stored body as the admin shows it --------------------------------------------------------------
# The body-token scheme's secret travels inside the body: the event log and the preview show it masked.

MIN_MASKED_SECRET = 8  # shorter "secrets" would mask ordinary words of every body


def secrets_in_bodies(channel):
    return [secret for secret in channel.signature_secrets() if len(secret) >= MIN_MASKED_SECRET]


def masked_payloads(raw_event):
    """The event's payloads (the body-token field masked by RawEvent.payloads) with any signature secret,
    wherever else it stands, masked too. Raises BodyError when the body does not parse."""
    secrets = secrets_in_bodies(raw_event.channel)
    return [mask_strings(payload, secrets) for payload in raw_event.payloads()]


def masked_body_text(raw_event):
    """The stored body for the admin to show: pretty JSON of its masked payloads, or, when it does not parse,
    the raw text with the secrets (and the body-token field's value) masked."""
    try:
        return json.dumps(masked_payloads(raw_event), indent=2, ensure_ascii=False)
    except (BodyError, RecursionError, ValueError):
        pass
    channel = raw_event.channel
    text = bytes(raw_event.body).decode("utf-8", errors="replace")
    if path := channel.body_token_path:
        key = re.escape(path.rsplit(".", 1)[-1])
        text = re.sub(rf'("{key}"\s*:\s*")([^"]*)(")', lambda m: m[1] + masked(m[2]) + m[3], text)
        text = re.sub(rf"((?:^|[&\]\[]){key}\]?=)([^&]*)", lambda m: m[1] + masked(unquote_plus(m[2])), text)
    for secret in secrets_in_bodies(channel):
        for form in {secret, quote_plus(secret), quote(secret, safe="")}:
            text = text.replace(form, masked(secret))
    return text


def mask_strings(node, secrets):
    if not secrets:
        return node
    if isinstance(node, dict):
        return {mask_strings(key, secrets): mask_strings(value, secrets) for key, value in node.items()}
    if isinstance(node, list):
        return [mask_strings(item, secrets) for item in node]
    if isinstance(node, str):
        for secret in secrets:
            node = node.replace(secret, masked(secret))
    return node
