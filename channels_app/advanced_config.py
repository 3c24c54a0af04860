"""Advanced Config's validation: its JSON Schema (advanced_config.schema.json), with the list of
authentication schemes taken from their registry, and the checks a schema cannot express."""

import json
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsonschema import Draft202012Validator

from connective.lib.validation import schema_errors

from .authentication import SCHEMES

SCHEMA_PATH = Path(__file__).with_name("advanced_config.schema.json")


@cache
def schema():
    document = json.loads(SCHEMA_PATH.read_text())
    document["properties"]["authentication"]["properties"]["scheme"]["enum"] = sorted(SCHEMES)
    return document


@cache
def schema_validator():
    return Draft202012Validator(schema())


def config_errors(config):
    """Readable errors of an Advanced Config, each naming the failing path; empty when valid."""
    errors = schema_errors(schema_validator(), config)
    if not errors and config.get("timezone"):
        try:
            ZoneInfo(config["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"timezone: '{config['timezone']}' is not a time zone such as Europe/Kyiv")
    return errors
