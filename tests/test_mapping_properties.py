"""Hostile input for the mapping engine: any JSON payload and any valid config give a call or a clear
mapping error, never an exception."""

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.advanced_config import config_errors
from channels_app.mapping import CALL_FIELDS, Mapping, MappingError
from dialogs.calls import CANONICAL_STATUSES, CallEventView, fold
from dialogs.numbers import to_e164

keys = st.sampled_from(["call_id", "id", "status", "state", "dir", "from", "to", "a", "b", "0", "1", "x-y", "a.b", ""])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
payloads = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
paths = st.lists(keys, min_size=1, max_size=4).map(".".join).filter(bool) | st.sampled_from(
    ["0.a", "-1", "a.-1.b", "1.0"]
)
sources = (
    paths
    | st.lists(paths, min_size=1, max_size=3)
    | st.fixed_dictionaries({}, optional={"in": paths, "out": paths}).filter(bool)
)
field_names = st.sampled_from(sorted(CALL_FIELDS) + ["extra_one", "keys"])
configs = st.fixed_dictionaries(
    {
        "field_mapping": st.tuples(st.just("call_id") | sources, st.dictionaries(field_names, sources, max_size=8)).map(
            lambda t: {**t[1], "call_id": t[0]}
        )
    },
    optional={
        "status_mapping": st.dictionaries(st.text(max_size=8), st.sampled_from(CANONICAL_STATUSES), max_size=4),
        "direction_mapping": st.dictionaries(st.text(max_size=8), st.sampled_from(["in", "out"]), max_size=3),
        "recordings": st.fixed_dictionaries({"enabled": st.booleans(), "download": st.booleans()}),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs,
    payload=st.tuples(scalars, st.dictionaries(keys, payloads, max_size=6)).map(lambda t: {"call_id": t[0], **t[1]})
    | payloads,
    country=st.sampled_from(["", "+380", "+1", "+358", "+999"]),
)
def test_any_payload_and_valid_config_map_to_a_call_or_a_clear_error(config, payload, country):
    assert config_errors(config) == []
    mapping = Mapping(config)
    try:
        mapped = mapping.map(payload)
    except MappingError as error:
        assert str(error).startswith(("field_mapping.call_id", "call_id"))
        return
    json.dumps(mapped.as_json())  # what is stored must be JSON
    view = CallEventView(mapped.fields, mapped.extra, datetime(2026, 1, 1, tzinfo=UTC))
    state = fold([view], one_event_per_call=not mapping.has_status)
    for number in (state.caller_number, state.callee_number):
        to_e164(number, country)
