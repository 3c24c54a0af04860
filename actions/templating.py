"""The template language of Action Jail: `{{ path }}` placeholders filled from the call's state.

Deliberately tiny so it is sandboxed by construction: a placeholder can only look a value up by path in
the state's JSON (dict keys and list indexes), so a template can read the state and nothing else; there
are no attributes, calls, filters or statements to abuse.

    "https://crm.example/api/calls?phone={{ telephony.caller_number }}"
    {"phone": "{{ telephony.caller_number }}", "duration": "{{ telephony.duration }}"}

A string that is exactly one placeholder keeps the value's JSON type (a number stays a number); inside a
longer string the value is written as text. A path that leads nowhere gives an empty value.
"""

import json
import re

PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


class TemplateError(ValueError):
    pass


def render(template, state):
    """Fill every string in `template` (a string, or JSON made of dicts and lists) from `state`."""
    if isinstance(template, str):
        return render_string(template, state)
    if isinstance(template, dict):
        return {render_string(key, state): render(value, state) for key, value in template.items()}
    if isinstance(template, list):
        return [render(item, state) for item in template]
    return template


def render_string(template, state):
    whole = PLACEHOLDER.fullmatch(template.strip())
    if whole:
        return lookup(state, whole.group(1))
    return PLACEHOLDER.sub(lambda match: as_text(lookup(state, match.group(1))), template)


def render_text(template, state):
    """Like render_string, but always text (URLs, headers, query values)."""
    return as_text(render_string(template, state))


def path_parts(path):
    """The names of a placeholder's path; a TemplateError when it is not a plain path into the state."""
    if not PATH.match(path):
        raise TemplateError(f"'{{{{ {path} }}}}' is not a path: write names joined by dots, like telephony.caller_number")
    parts = path.split(".")
    if any(part.startswith("_") for part in parts):
        raise TemplateError(f"'{{{{ {path} }}}}': names starting with '_' are not allowed")
    return parts


def lookup(state, path):
    node = state
    for part in path_parts(path):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return ""
        if node is None:
            return ""
    return node


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
