"""The webhook's parse step (channels_app/parsing.parse_events) per delivery, on the sample bodies.

    .venv/bin/python bench/parse.py [--against OTHER/parsing.py] [--rounds 15] [--number 20000]

With --against, the other version (e.g. `git show REV:channels_app/parsing.py > /tmp/old.py`) runs in
alternating rounds with this one, so both see the same noise of a shared machine; the figure is the best
round's µs per body (the least disturbed), with the spread of all rounds.
"""

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "channels_app" / "providers"


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_bodies():
    return {
        "setera (308 B)": json.dumps(
            json.loads((SAMPLES / "setera" / "samples" / "setera_incoming.json").read_text())[0]
        ).encode(),
        "wildix (1.2 kB)": (SAMPLES / "wildix" / "samples" / "wildix_call_end.json").read_bytes(),
        "escaped non-ASCII": json.dumps(
            {"call_id": "c1", "caller_name": "Олена Коваленко", "note": "привіт " * 20}
        ).encode(),
    }


def per_body_microseconds(module, body, number):
    start = time.perf_counter()
    for _ in range(number):
        module.parse_events(body, "application/json", "json")
    return (time.perf_counter() - start) / number * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", help="another parsing.py to compare with")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=20000)
    options = parser.parse_args()
    versions = {"this": load(ROOT / "channels_app" / "parsing.py", "this_parsing")}
    if options.against:
        versions["other"] = load(options.against, "other_parsing")
    for name, body in sample_bodies().items():
        rounds = {label: [] for label in versions}
        for turn in range(options.rounds):
            order = list(versions.items()) if turn % 2 == 0 else list(reversed(versions.items()))
            for label, module in order:
                rounds[label].append(per_body_microseconds(module, body, options.number))
        figures = "  ".join(
            f"{label} {min(times):6.2f} µs (rounds {min(times):.1f}–{max(times):.1f})"
            for label, times in rounds.items()
        )
        print(f"{name:20} {figures}")


if __name__ == "__main__":
    sys.exit(main())
