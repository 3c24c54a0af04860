"""Providers, one folder each: `<slug>/preset.json` (a working channel configuration), `<slug>/README.md`
(the administrator's page), `<slug>/samples/` (real payloads, with their source) and
`<slug>/test_<slug>.py` (every sample through the endpoint and the worker). Adding a provider is adding a
folder: the admin's preset picker, this list and the index in README.md come from the folders.

    python -m channels_app.providers   # writes the index table of README.md from the folders
"""

import json
import re
from pathlib import Path

PROVIDERS_DIR = Path(__file__).parent
INDEX_START, INDEX_END = "<!-- providers: start -->", "<!-- providers: end -->"


def slugs():
    return sorted(path.parent.name for path in PROVIDERS_DIR.glob("*/preset.json"))


def load(slug):
    return json.loads((PROVIDERS_DIR / slug / "preset.json").read_text())


def all_presets():
    return {slug: load(slug) for slug in slugs()}


def sample_path(name):
    """A provider's sample by its file name (`setera_incoming.json`: in setera/samples/)."""
    return PROVIDERS_DIR / name.split("_", 1)[0].removesuffix(".json") / "samples" / name


def index_table():
    """The table of README.md: each provider, its page, its format and how it authenticates."""
    lines = ["| Provider | Page | Format | Authentication |", "| --- | --- | --- | --- |"]
    for slug, preset in all_presets().items():
        scheme = preset["advanced_config"].get("authentication", {}).get("scheme", "token")
        data_format = "form" if preset["data_format"] == "form" else "JSON"
        lines.append(f"| {preset['name']} | [{slug}/README.md]({slug}/README.md) | {data_format} | `{scheme}` |")
    return "\n".join(lines)


def index_with_table(text):
    pattern = re.compile(re.escape(INDEX_START) + ".*?" + re.escape(INDEX_END), re.S)
    return pattern.sub(lambda _: f"{INDEX_START}\n{index_table()}\n{INDEX_END}", text)


def write_index():
    readme = PROVIDERS_DIR / "README.md"
    readme.write_text(index_with_table(readme.read_text()))
