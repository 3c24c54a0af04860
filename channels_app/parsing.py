"""Turns a webhook body (JSON or form-urlencoded) into a list of event objects."""

import json
import math
import re
from functools import cached_property
from urllib.parse import parse_qsl

MAX_FORM_FIELDS = 1000
MAX_EVENTS_PER_BODY = 1000
# Deeper structures are no provider's events; they would only reach a recursion limit somewhere later.
MAX_DEPTH = 64
FORM_KEY_PART = re.compile(r"\[([^\[\]]*)\]")
# What PostgreSQL cannot keep in text or jsonb, and UTF-8 cannot encode: refused here, not after the 202.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BodyError(ValueError):
    """The body cannot be read as events; the message tells the sender what is wrong."""


class Body:
    """A delivery's body, parsed at most once however many steps of the webhook read it."""

    def __init__(self, raw: bytes, content_type: str, default_format: str):
        self.raw, self.content_type, self.default_format = raw, content_type, default_format

    @cached_property
    def parsed(self):
        """(events, None), or (None, the BodyError saying why there are none)."""
        try:
            return parse_events(self.raw, self.content_type, self.default_format), None
        except BodyError as problem:
            return None, problem


def body_format(content_type, default_format):
    """'json' or 'form': the request's Content-Type wins, the channel's setting decides otherwise."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json"
    if media_type == "application/x-www-form-urlencoded":
        return "form"
    return default_format


def charset_of(content_type):
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def parse_events(body: bytes, content_type: str, default_format: str) -> list[dict]:
    """The events in a body: a JSON object, a JSON array of objects, or one form-encoded object."""
    charset = charset_of(content_type)
    if charset not in (None, "utf-8", "utf8"):
        raise BodyError(f"unsupported charset '{charset}': send UTF-8")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(f"body is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise BodyError("body is empty")
    if body_format(content_type, default_format) == "json":
        return _json_events(text)
    return [_form_event(text)]


def _json_events(text):
    try:
        data = DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise BodyError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BodyError("invalid JSON: nested too deeply") from None
    except BodyError:
        raise
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise BodyError(f"invalid JSON: {str(exc).split(':')[0]}") from None
    if "\\u0000" in text or "\\ud" in text or "\\uD" in text:  # only such an escape can smuggle them in
        _refuse_unstorable(data)
    if text.count("{") + text.count("[") > MAX_DEPTH:
        _refuse_deep(data)
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and len(data) > MAX_EVENTS_PER_BODY:
        raise BodyError(f"more than {MAX_EVENTS_PER_BODY} events in one delivery: send them in smaller batches")
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        return data
    raise BodyError("JSON body must be an object or a non-empty array of objects")


def _refuse_constant(name):
    raise BodyError(f"invalid JSON: {name} is not a JSON number")


def _finite_float(text):
    number = float(text)
    if not math.isfinite(number):
        raise BodyError(f"invalid JSON: the number {text[:40]} is out of range")
    return number


# Built once: json.loads with arguments builds a decoder on every call, a third of a small body's parse.
DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_unstorable(data):
    for text in _strings(data):
        if match := UNSTORABLE.search(text):
            what = (
                "a NUL character (\\u0000)"
                if match.group() == "\x00"
                else "a lone surrogate (an unpaired \\ud800-\\udfff escape)"
            )
            raise BodyError(f"the body holds {what}, which cannot be stored: remove it")


def _strings(data):
    """Every key and string value of parsed JSON, without recursion."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            yield from node.keys()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _refuse_deep(data):
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BodyError(f"the body is nested more than {MAX_DEPTH} levels deep")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _form_event(text):
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise BodyError(f"invalid form body: {exc}") from None
    event = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise BodyError("the body holds a NUL character (%00), which cannot be stored: remove it")
        parts = _key_parts(key)
        if len(parts) > MAX_DEPTH:
            raise BodyError(f"the form key '{key[:60]}…' is nested more than {MAX_DEPTH} levels deep")
        _put(event, parts, value)
    return _lists_from_numbered_keys(event)


def _key_parts(key):
    """`callDetails[historyData][0][billsec]` -> ['callDetails', 'historyData', '0', 'billsec']."""
    head, bracket, rest = key.partition("[")
    if not bracket or not head:
        return [key]
    tail = "[" + rest
    parts = FORM_KEY_PART.findall(tail)
    if "".join(f"[{p}]" for p in parts) != tail:
        return [key]  # not PHP bracket notation after all: keep the key as sent
    return [head, *parts]


def _put(node, parts, value):
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if part == "":  # `a[]=x` appends
            part = str(len(node))
        if last:
            node[part] = value  # a repeated key: the last value wins
        else:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child


def _lists_from_numbered_keys(node):
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_numbered_keys(value) for key, value in node.items()}
    if converted and all(key.isascii() and key.isdigit() for key in converted):
        indexes = sorted(int(key) for key in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(i)] for i in indexes]
    return converted
