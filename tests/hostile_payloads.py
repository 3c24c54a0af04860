"""Hostile values for the property tests of the whole pipeline (#14), and deliveries that carry them in any
mapped field of a preset's real payload, as JSON or as a form body.

A value is written as the JSON text it is sent as (a token), so that what Python's json cannot write (a
5000-digit integer, a lone surrogate) is sent exactly as a provider could."""

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from hypothesis import strategies as st

from channels_app import providers
from channels_app.providers import sample_path

from .conftest import fixture


def text_token(text):
    return json.dumps(text)


HUGE_INTEGERS = ["9" * 400, "-" + "9" * 400, "1" * 5000]
TINY_AND_WILD_NUMBERS = ["1e308", "-1e308", "1e309", "-1e-320", "5e-324", "NaN", "Infinity", "-Infinity", "-0", "1E400"]
STRANGE_TEXT = ['"a\\u0000b"', '"\\u0000"', '"\\ud800"', '"x\\udfffy"', '"\\ud83d"']
LONG_TEXT = [text_token("7" * 256), text_token("x" * 2001), text_token("y" * 100_000)]
EXTREME_DATES = [
    text_token(moment)
    for moment in (
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59.999999",
        "0001-01-01",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
    )
] + ["1e20", "100000000000000000000", "-62135596801", "253402300800"]
MARKUP = [
    text_token(markup)
    for markup in (
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "{{ secrets }}",
        "'; DROP TABLE dialogs; --",
    )
]
NON_HTTP_URLS = [
    text_token(url)
    for url in (
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_",
        "http://127.0.0.1:1\\@pbx.example/rec.mp3",
        "//evil.example/a.mp3",
    )
]
SHAPES = [
    "[" * 200 + "]" * 200,
    "[" * 5000 + "]" * 5000,
    '{"a": [1, {"b": null}]}',
    "[]",
    "{}",
    "true",
    "false",
    "null",
    '""',
]

CORPUS = (
    HUGE_INTEGERS + TINY_AND_WILD_NUMBERS + STRANGE_TEXT + LONG_TEXT + EXTREME_DATES + MARKUP + NON_HTTP_URLS + SHAPES
)
HOSTILE_KEYS = ['"k\\u0000ey"', '"\\ud800"', '"<script>alert(1)</script>"', text_token("k" * 3000)]

hostile_tokens = (
    st.sampled_from(CORPUS)
    | st.integers(min_value=-(10**500), max_value=10**500).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(json.dumps)
    | st.text(max_size=40).map(text_token)
)


def as_form_text(token):
    """What a form body carries for a JSON token: a string's own characters (lone surrogates kept, to be
    sent as the bytes a careless sender would), anything else as written."""
    if token.startswith('"'):
        return json.loads(token)
    return token


def form_bytes(text):
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass(frozen=True)
class Preset:
    slug: str
    template: object  # a payload (dict) or, for a form preset, a list of (key, value) pairs
    call_id_path: str

    @property
    def is_form(self):
        return providers.load(self.slug)["data_format"] == "form"

    def mapped_paths(self):
        """Every payload path the preset's field_mapping reads."""
        paths = []
        for source in providers.load(self.slug)["advanced_config"]["field_mapping"].values():
            for choice in source.values() if isinstance(source, dict) else [source]:
                paths.extend([choice] if isinstance(choice, str) else choice)
        return sorted(set(paths))

    def ordinary(self, call_id):
        """The preset's real sample payload, for another call."""
        return self.body(call_id, {})

    def body(self, call_id, tokens, hostile_key=None):
        """(body bytes, Content-Type) of the sample with `call_id`, each path in `tokens` set to that JSON
        token, and `hostile_key` (a JSON string token) added with the value 1."""
        placed = {self.call_id_path: text_token(call_id), **tokens}
        if self.is_form:
            return form_body(self.template, placed, hostile_key), "application/x-www-form-urlencoded"
        return json_body(self.template, placed, hostile_key).encode("utf-8", "surrogatepass"), "application/json"


def placeholder(number):
    return f"\x01hostile-{number}\x01"


def json_body(template, placed, hostile_key):
    payload = json.loads(json.dumps(template))
    tokens = {}
    for number, (path, token) in enumerate(placed.items()):
        set_path(payload, path, placeholder(number))
        tokens[json.dumps(placeholder(number))] = token
    if hostile_key:
        payload[placeholder("key")] = 1
        tokens[json.dumps(placeholder("key"))] = hostile_key
    text = json.dumps(payload)
    for written, token in tokens.items():
        text = text.replace(written, token)
    return text


def set_path(payload, path, value):
    """Put `value` where the mapping's `path` reads (`callDetails.0.duration`), making the way if needed."""
    if isinstance(payload, dict) and path in payload:
        payload[path] = value
        return
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def form_body(pairs, placed, hostile_key):
    values = {key: value for key, value in pairs}
    for path, token in placed.items():
        head, *rest = path.split(".")
        values[head + "".join(f"[{part}]" for part in rest)] = as_form_text(token)
    if hostile_key:
        values[as_form_text(hostile_key)] = "1"
    return "&".join(f"{form_bytes(key)}={form_bytes(value)}" for key, value in values.items()).encode()


def form_pairs(name):
    return parse_qsl(sample_path(name).read_text().strip(), keep_blank_values=True)


GENERIC = Preset("generic", fixture("generic_call.json"), "call_id")
SETERA = Preset("setera", fixture("setera_incoming.json")[2], "call_id")
PHONON = Preset("phonon", fixture("phonon_flow_end.json"), "phonon-uuid")
BINOTEL = Preset("binotel", form_pairs("binotel_call_completed.txt"), "callDetails.generalCallID")
PRESETS = {preset.slug: preset for preset in (GENERIC, SETERA, PHONON, BINOTEL)}


@st.composite
def hostile_deliveries(draw, preset_slugs=tuple(PRESETS)):
    """(preset slug, {path: token}, hostile key or None): one or two mapped fields of one preset's sample
    made hostile, sometimes with a hostile key beside them."""
    preset = PRESETS[draw(st.sampled_from(preset_slugs))]
    paths = draw(st.lists(st.sampled_from(preset.mapped_paths()), min_size=1, max_size=2, unique=True))
    tokens = {path: draw(hostile_tokens) for path in paths}
    hostile_key = draw(st.none() | st.sampled_from(HOSTILE_KEYS))
    return preset.slug, tokens, hostile_key
