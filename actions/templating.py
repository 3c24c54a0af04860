"""The template language of Action Jail: `{{ path }}` placeholders filled from the call's state.

Deliberately tiny so it is sandboxed by construction: a placeholder can only look a value up by path in
the state's JSON (dict keys and list indexes), so a template can read the state and nothing else; there
are no attributes, calls, filters or statements to abuse.

    "https://crm.example/api/calls?phone={{ telephony.caller_number }}"
    {"phone": "{{ telephony.caller_number }}", "duration": "{{ telephony.duration }}"}

A string that is exactly one placeholder keeps the value's JSON type (a number stays a number); inside a
longer string the value is written as text. A path that leads nowhere gives an empty value.

Where a value lands in a request decides how it is written (`render_encoded` with one of the encoders
below), so a value is always one value in its place: a caller number `1&key=x#` cannot add a query
parameter, a path segment, a header or a JSON field.
"""

import json
import re
import unicodedata
from urllib.parse import quote

from channels_app.mapping import MISSING, resolve_path

PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


class TemplateError(ValueError):
    pass


def render(template, state):
    """Fill every string in `template` (a string, or JSON made of dicts and lists) from `state`."""
    if isinstance(template, str):
        return render_string(template, state)
    if isinstance(template, dict):
        return {render_text(key, state): render(value, state) for key, value in template.items()}
    if isinstance(template, list):
        return [render(item, state) for item in template]
    return template


def render_string(template, state):
    whole = PLACEHOLDER.fullmatch(template.strip())
    if whole:
        return lookup(state, whole.group(1))
    return PLACEHOLDER.sub(lambda match: as_text(lookup(state, match.group(1))), template)


def render_encoded(template, state, encode):
    """A text template whose values are written by `encode` (one of the encoders below); the template's own
    text is kept as the administrator wrote it."""
    return PLACEHOLDER.sub(lambda match: encode(well_formed(as_text(lookup(state, match.group(1))))), template)


def url_component(value):
    """A value inside a URL's path segment, query or fragment: everything but letters, digits and `-._~`
    percent-encoded (UTF-8), so `/`, `?`, `#`, `&`, `=` and `+` stay inside the value."""
    return quote(value, safe="")


def header_value(value):
    """A value inside a header: control characters (CR, LF, NUL…) removed, so it cannot end the header;
    `%` and non-ASCII characters percent-encoded (UTF-8), since header bytes beyond ASCII are read
    differently by every server."""
    visible = "".join(character for character in value if unicodedata.category(character) != "Cc")
    return quote(visible, safe="".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%"))


def well_formed(text):
    """`text` as valid Unicode: a lone surrogate (which JSON allows and UTF-8 cannot carry) becomes U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def well_formed_json(value):
    """Every string of a JSON value well formed (see well_formed): some parsers refuse a lone surrogate's escape."""
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, dict):
        return {well_formed(key): well_formed_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [well_formed_json(item) for item in value]
    return value


def render_text(template, state):
    """Like render_string, but always text (URLs, headers, query values)."""
    return as_text(render_string(template, state))


def path_parts(path):
    """The names of a placeholder's path; a TemplateError when it is not a plain path into the state."""
    if not PATH.match(path):
        raise TemplateError(
            f"'{{{{ {path} }}}}' is not a path: write names joined by dots, like telephony.caller_number"
        )
    parts = path.split(".")
    if any(part.startswith("_") for part in parts):
        raise TemplateError(f"'{{{{ {path} }}}}': names starting with '_' are not allowed")
    return parts


def lookup(state, path):
    """The state's value at a placeholder's path, read as Advanced Config reads a payload; "" when absent."""
    path_parts(path)  # a plain path, or TemplateError
    value = resolve_path(state, path)
    return "" if value is MISSING or value is None else value


def as_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def placeholders(template):
    """Every path a template reads, for validation and display."""
    if isinstance(template, str):
        return PLACEHOLDER.findall(template)
    if isinstance(template, dict):
        return [p for key, value in template.items() for p in placeholders(key) + placeholders(value)]
    if isinstance(template, list):
        return [p for item in template for p in placeholders(item)]
    return []
