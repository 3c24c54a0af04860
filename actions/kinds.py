"""Action kinds: each turns a call's state into outputs (operator_email, topic_alias, anything else).

A kind has a JSON Schema for its parameters and one method, `run(parameters, secrets, state)`.
"""

import base64
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from django.conf import settings
from jsonschema import Draft202012Validator

from channels_app.mapping import MISSING, resolve_path
from connective.lib import outbound
from connective.lib.validation import schema_errors

from .templating import (
    PLACEHOLDER,
    TemplateError,
    as_text,
    header_value,
    lookup,
    path_parts,
    placeholders,
    render,
    render_encoded,
    render_text,
    url_component,
    well_formed,
    well_formed_json,
)

MASK = "••••••"


@dataclass
class ActionResult:
    """What one run of an action gave: outputs, or an error in plain words; and what was sent and received."""

    outputs: dict = field(default_factory=dict)
    error: str = ""
    request: dict | None = None
    response: dict | None = None
    duration: float = 0.0

    @property
    def ok(self):
        return not self.error


TEMPLATE_MAP = {"type": "object", "additionalProperties": {"type": "string"}}


class HttpKind:
    """Calls an external system and reads outputs from its JSON answer."""

    label = "HTTP request to an external system"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "method": {"enum": ["GET", "POST", "PUT", "PATCH"], "default": "GET"},
            "url": {
                "type": "string",
                "minLength": 1,
                "description": "A template: https://crm.example/calls/{{ telephony.call_id }}",
            },
            "headers": TEMPLATE_MAP,
            "query": TEMPLATE_MAP,
            "body_format": {"enum": ["json", "form", "none"]},
            "body": {"description": "JSON whose strings are templates; for form bodies, an object of templates."},
            "auth": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type"],
                "properties": {
                    "type": {"enum": ["none", "basic", "bearer", "header"]},
                    "username": {
                        "type": "string",
                        "description": "basic: the user; the password is the secret 'password'.",
                    },
                    "header": {"type": "string", "description": "header: its name; its value is the secret 'token'."},
                },
            },
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 30, "default": 5},
            "retries": {"type": "integer", "minimum": 0, "maximum": 3, "default": 2},
            "outputs": {
                "type": "object",
                "description": 'Output name -> path in the JSON answer, e.g. {"operator_email": "data.manager.email"}.',
                "additionalProperties": {"type": "string", "minLength": 1},
            },
        },
    }

    def extra_errors(self, parameters):
        auth = parameters.get("auth", {})
        errors = []
        if auth.get("type") == "basic" and not auth.get("username"):
            errors.append("auth.username: basic authentication needs a username")
        if auth.get("type") == "header" and not HEADER_NAME.fullmatch(auth.get("header", "")):
            errors.append("auth.header: name the header that carries the token")
        if parameters.get("body_format") == "form" and not isinstance(parameters.get("body", {}), dict):
            errors.append("body: a form body is an object of field names and templates")
        for name, value in parameters.get("headers", {}).items():
            if not HEADER_NAME.fullmatch(name):
                errors.append(f"headers: '{name}' is not a header name")
            if not PLACEHOLDER.sub("", value).isascii():
                errors.append(
                    f"headers.{name}: write the header's own text in ASCII (values from placeholders are encoded)"
                )
        try:
            split_url(parameters["url"])
        except TemplateError as exc:
            errors.append(f"url: {exc}")
        return errors + [f"{where}: {problem}" for where, problem in misplaced_secrets(parameters)]

    def longest_run(self, parameters):
        """Seconds a run may take at most: every try waits its timeout, with backoff in between."""
        retries = parameters.get("retries", 2)
        return parameters.get("timeout", 5) * (retries + 1) + BACKOFF * (2**retries - 1)

    def run(self, parameters, secrets, state):
        misplaced = misplaced_secrets(parameters)
        if misplaced:  # refused at save time already; an action saved around the form stops here
            return ActionResult(error="template: " + "; ".join(f"{where}: {problem}" for where, problem in misplaced))
        try:
            call = self._request(parameters, secrets, state)
        except TemplateError as exc:
            return ActionResult(error=f"template: {exc}")
        shown = masked(call["shown"], secrets)
        try:
            answer = outbound.request(
                call["method"],
                call["url"],
                allowed_hosts=settings.ACTIONS_ALLOWED_HOSTS,
                timeout=parameters.get("timeout", 5),
                retries=parameters.get("retries", 2),
                backoff=BACKOFF,
                max_bytes=1024 * 1024,
                **call["options"],
            )
        except outbound.OutboundError as exc:
            return ActionResult(error=masked(str(exc), secrets), request=shown)
        response = {
            "status": answer.status,
            "body": masked(answer.text[:20000], secrets),
            "seconds": round(answer.elapsed, 3),
        }
        result = ActionResult(request=shown, response=response)
        if not 200 <= answer.status < 300:
            result.error = f"the external system answered HTTP {answer.status}"
            return result
        try:
            data = answer.json()
        except ValueError:
            result.error = "the answer is not valid JSON"
            return result
        outputs, missing = read_outputs(data, parameters.get("outputs", {}))
        result.outputs = masked(outputs, secrets)  # an answer that echoes a secret does not put it on the dialog
        if missing:
            result.error = "the answer has no " + ", ".join(f"{name} (at '{path}')" for name, path in missing)
        return result

    def _request(self, parameters, secrets, state):
        """The request to send, each value encoded for where it stands; and the same request as it may be
        shown and stored (secrets masked by position: every header that reads one, and the auth)."""
        method = parameters.get("method", "GET")
        url = render_url(parameters["url"], parameters.get("query", {}), state)
        headers = self._headers(parameters, state, secrets, header_value)
        shown_headers = self._headers(parameters, state, dict.fromkeys(secrets, MASK), shown_header_value)
        options = {"headers": headers}
        auth = parameters.get("auth", {"type": "none"})
        if auth["type"] == "basic":
            credentials = f"{auth['username']}:{secrets.get('password', '')}".encode()  # UTF-8, as RFC 7617 allows
            headers["Authorization"] = f"Basic {base64.b64encode(credentials).decode()}"
            shown_headers["Authorization"] = f"Basic {MASK}"
        elif auth["type"] == "bearer":
            headers["Authorization"] = f"Bearer {header_value(secrets.get('token', ''))}"
            shown_headers["Authorization"] = f"Bearer {MASK}"
        elif auth["type"] == "header":
            headers[auth["header"]] = header_value(secrets.get("token", ""))
            shown_headers[auth["header"]] = MASK
        body_format = parameters.get("body_format", "json" if "body" in parameters else "none")
        body = None
        if body_format == "json":
            body = well_formed_json(render(parameters.get("body", {}), state))
            try:
                options["data"] = json.dumps(body, allow_nan=False).encode()
            except ValueError as exc:
                raise TemplateError(f"the body cannot be written as JSON: {exc}") from None
            headers.setdefault("Content-Type", "application/json")
        elif body_format == "form":
            body = {
                key: well_formed(as_text(render(value, state))) for key, value in parameters.get("body", {}).items()
            }
            options["data"] = urlencode(body).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        shown = {"method": method, "url": url, "headers": shown_headers, "body": body}
        return {"method": method, "url": url, "options": options, "shown": shown}

    @staticmethod
    def _headers(parameters, state, secrets, encode):
        context = {**state, "secrets": secrets}
        return {
            name: render_encoded(value, context, encode).strip(" ")
            for name, value in parameters.get("headers", {}).items()
        }


BACKOFF = 0.5
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
# Where a secret may stand: in a header (and in the auth, which is a header too). Anywhere else it would
# reach an endpoint's logs or an echoing endpoint's answer.
SECRET_FREE = ("url", "query", "body")


def shown_header_value(value):
    return value if value == MASK else header_value(value)


def misplaced_secrets(parameters):
    """(where, problem) for every placeholder that reads a secret outside the headers."""
    return [
        (where, f"'{{{{ {path} }}}}': secrets may stand only in headers and the auth, not in the URL, query or body")
        for where in SECRET_FREE
        for path in placeholders(parameters.get(where, {}))
        if path.split(".")[0] == "secrets"
    ]


def split_url(template):
    """(scheme and host, path, query, fragment) of a URL template; the scheme and host must be written out,
    a placeholder there could send the request (and its secrets) anywhere."""
    start = URL_START.match(template)
    if start is None:
        raise TemplateError("write the URL out from its scheme: https://crm.example/…")
    if PLACEHOLDER.search(start.group()):
        raise TemplateError("the scheme and host cannot come from a placeholder; write them out")
    rest, _, fragment = template[start.end() :].partition("#")
    path, _, query = rest.partition("?")
    return start.group(), path, query, fragment


def render_url(template, query_templates, state):
    """The URL to call: each path segment, query value and fragment filled with its values percent-encoded,
    and the `query` templates added as encoded parameters."""
    origin, path, query, fragment = split_url(template)
    segments = [render_segment(segment, state) for segment in path.split("/")]
    query = render_encoded(query, state, url_component)
    extra = urlencode({name: well_formed(render_text(value, state)) for name, value in query_templates.items()})
    query = "&".join(part for part in (query, extra) if part)
    fragment = render_encoded(fragment, state, url_component)
    return origin + "/".join(segments) + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")


def render_segment(template, state):
    segment = render_encoded(template, state, url_component)
    if segment in (".", "..") and segment != template:  # a value must not climb the administrator's path
        raise TemplateError(f"'{template}' gives the path segment '{segment}', which is refused")
    return segment


def urlencode(fields):
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in fields.items())


class RulesKind:
    """Sets outputs from conditions on the call's state, with no external call: routing by topic."""

    label = "Rules on the call's data (no external call)"
    condition = {
        "type": "object",
        "additionalProperties": False,
        "required": ["field"],
        "minProperties": 2,
        "maxProperties": 2,
        "properties": {
            "field": {"type": "string", "description": "A path in the state, e.g. telephony.callee_number."},
            "equals": {"description": "The value, compared as text."},
            "in": {"type": "array", "description": "Any of these values, compared as text."},
            "matches": {"type": "string", "description": "A regular expression found in the value."},
            "prefix": {"type": "string", "description": "The value's digits start with these digits: a number prefix."},
        },
    }
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["rules"],
        "properties": {
            "rules": {
                "type": "array",
                "description": "Checked in order; the first rule whose conditions all hold sets its outputs.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["set"],
                    "properties": {
                        "when": {"type": "array", "items": condition},
                        "set": {"type": "object"},
                    },
                },
            },
            "otherwise": {"type": "object", "description": "Outputs when no rule holds."},
        },
    }

    def longest_run(self, parameters):
        return 0

    def extra_errors(self, parameters):
        errors = []
        for index, rule in enumerate(parameters.get("rules", [])):
            for number, condition in enumerate(rule.get("when", [])):
                if "matches" in condition:
                    try:
                        re.compile(condition["matches"])
                    except re.error as exc:
                        errors.append(f"rules.{index}.when.{number}.matches: not a regular expression: {exc}")
        return errors

    def run(self, parameters, secrets, state):
        try:
            for rule in parameters["rules"]:
                if all(holds(condition, state) for condition in rule.get("when", [])):
                    return ActionResult(outputs=dict(rule["set"]))
        except TemplateError as exc:
            return ActionResult(error=f"rules: {exc}")
        return ActionResult(outputs=dict(parameters.get("otherwise", {})))


def holds(condition, state):
    value = as_text(lookup(state, condition["field"]))
    if "equals" in condition:
        return value == as_text(condition["equals"])
    if "in" in condition:
        return value in {as_text(item) for item in condition["in"]}
    if "matches" in condition:
        return re.search(condition["matches"], value[:1000]) is not None
    digits = re.sub(r"\D", "", value)
    prefix = re.sub(r"\D", "", condition["prefix"])
    return bool(digits) and digits.startswith(prefix)


KINDS = {"http": HttpKind(), "rules": RulesKind()}
VALIDATORS = {name: Draft202012Validator(kind.schema) for name, kind in KINDS.items()}


def parameter_errors(kind, parameters):
    if kind not in KINDS:
        return [f"(top level): unknown kind '{kind}'"]
    errors = schema_errors(VALIDATORS[kind], parameters)
    if not errors:
        errors = KINDS[kind].extra_errors(parameters)
        for path in placeholders(parameters):
            try:
                path_parts(path)
            except TemplateError as exc:
                errors.append(f"template: {exc}")
    return errors


def read_outputs(data, output_paths):
    outputs, missing = {}, []
    for name, path in output_paths.items():
        value = resolve_path(data, path)
        if value is MISSING or value in (None, ""):
            missing.append((name, path))
        else:
            outputs[name] = value
    return outputs, missing


def masked(value, secrets):
    """`value` (text or JSON) with every secret's value replaced, so it can be shown and stored."""
    if isinstance(value, str):
        for secret in secrets.values():
            if isinstance(secret, str) and len(secret) >= 3:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {key: masked(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item, secrets) for item in value]
    return value


def timed(run, *args):
    started = time.monotonic()
    result = run(*args)
    result.duration = time.monotonic() - started
    return result
