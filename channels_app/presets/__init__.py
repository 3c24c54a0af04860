"""Provider presets: one JSON file per provider with a working channel configuration."""

import json
from pathlib import Path

PRESETS_DIR = Path(__file__).parent


def load(slug):
    return json.loads((PRESETS_DIR / f"{slug}.json").read_text())


def all_presets():
    return {path.stem: json.loads(path.read_text()) for path in sorted(PRESETS_DIR.glob("*.json"))}
