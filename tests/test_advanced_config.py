"""Advanced Config: its JSON Schema, the admin's refusal of a bad config, and path resolution."""

import json

import pytest

from channels_app import providers
from channels_app.advanced_config import config_errors
from channels_app.mapping import MISSING, Mapping, MappingError, resolve_path
from channels_app.models import TelephonyChannel, default_advanced_config

NO_SQS_TRANSPORT = {
    "sqs_queue-TOTAL_FORMS": "0",
    "sqs_queue-INITIAL_FORMS": "0",
    "sqs_queue-MIN_NUM_FORMS": "0",
    "sqs_queue-MAX_NUM_FORMS": "1",
}


def test_every_preset_and_the_default_config_are_valid():
    assert config_errors(default_advanced_config()) == []
    for slug, preset in providers.all_presets().items():
        assert config_errors(preset["advanced_config"]) == [], slug


@pytest.mark.parametrize(
    "config, expected",
    [
        ({}, "(top level): 'field_mapping' is a required property"),
        ({"field_mapping": {"caller_number": "caller"}}, "field_mapping: 'call_id' is a required property"),
        ({"field_mapping": {"call_id": ""}}, "field_mapping.call_id: "),
        (
            {"field_mapping": {"call_id": "id"}, "status_mapping": {"PROPER": "answred"}},
            "status_mapping.PROPER: 'answred' is not one of",
        ),
        (
            {"field_mapping": {"call_id": "id"}, "direction_mapping": {"INCOMING": "inbound"}},
            "direction_mapping.INCOMING: 'inbound' is not one of",
        ),
        (
            {"field_mapping": {"call_id": "id"}, "recordings": {"enabled": "yes"}},
            "recordings.enabled: 'yes' is not of type 'boolean'",
        ),
        (
            {"field_mapping": {"call_id": "id"}, "transcription": {"source": "magic"}},
            "transcription.source: 'magic' is not one of",
        ),
        (
            {"field_mapping": {"call_id": "id"}, "feild_mapping": {}},
            "(top level): Additional properties are not allowed ('feild_mapping' was unexpected)",
        ),
        ({"field_mapping": {"call_id": "id", "caller_number": {"inbound": "a"}}}, "field_mapping.caller_number: "),
        ({"field_mapping": {"call_id": "id", "bad name": "x"}}, "field_mapping: 'bad name' does not match"),
        ([], "(top level): [] is not of type 'object'"),
    ],
)
def test_an_invalid_config_is_refused_with_an_error_naming_the_path(config, expected):
    errors = config_errors(config)
    assert errors and any(error.startswith(expected) for error in errors), errors


def test_the_admin_refuses_an_invalid_config_and_shows_the_path(admin_client, bot):
    channel = TelephonyChannel.from_preset(bot, "Main", "generic")
    config = channel.advanced_config
    config["status_mapping"]["PROPER"] = "answred"

    response = admin_client.post(
        f"/admin/channels_app/telephonychannel/{channel.pk}/change/",
        {
            "bot": bot.pk,
            "name": "Main",
            "is_active": "on",
            "data_format": "json",
            "advanced_config": json.dumps(config),
            "default_country_code": "+380",
            "enrich_error_action": "skip",
            "caller_lookup_deadline": "2",
            "transport": "webhook",
            **NO_SQS_TRANSPORT,
        },
    )

    assert response.status_code == 200, "the form is shown again"
    assert "status_mapping.PROPER: &#x27;answred&#x27; is not one of" in response.content.decode()
    channel.refresh_from_db()
    assert channel.advanced_config["status_mapping"]["PROPER"] == "answered"


def test_the_admin_saves_a_valid_config(admin_client, bot):
    channel = TelephonyChannel.from_preset(bot, "Main", "generic")
    config = {"field_mapping": {"call_id": "uuid", "status": "state"}, "status_mapping": {"DONE": "ended"}}

    response = admin_client.post(
        f"/admin/channels_app/telephonychannel/{channel.pk}/change/",
        {
            "bot": bot.pk,
            "name": "Main",
            "is_active": "on",
            "data_format": "form",
            "advanced_config": json.dumps(config),
            "default_country_code": "+358",
            "enrich_error_action": "assign_admin",
            "caller_lookup_deadline": "2",
            "transport": "webhook",
            **NO_SQS_TRANSPORT,
        },
    )

    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.advanced_config, channel.data_format, channel.default_country_code) == (config, "form", "+358")


def test_a_new_channel_gets_an_unguessable_webhook_url_and_token(bot, settings):
    settings.PUBLIC_BASE_URL = "https://connective.example.com"
    first = TelephonyChannel.objects.create(bot=bot, name="A")
    second = TelephonyChannel.objects.create(bot=bot, name="B")

    assert first.webhook_url == f"https://connective.example.com/webhooks/telephony/{first.webhook_id}/"
    assert first.webhook_id != second.webhook_id
    assert len(first.token) >= 40 and first.token != second.token


@pytest.mark.parametrize(
    "path, expected",
    [
        ("a", 1),
        ("b.c", 2),
        ("list.1.x", "second"),
        ("list.-1.x", "second"),
        ("list.5.x", MISSING),
        ("termination-reason", "HANGUP"),
        ("dotted.key", "whole"),
        ("b.missing", MISSING),
        ("a.deeper", MISSING),
    ],
)
def test_paths_reach_into_objects_and_arrays(path, expected):
    payload = {
        "a": 1,
        "b": {"c": 2},
        "list": [{"x": "first"}, {"x": "second"}],
        "termination-reason": "HANGUP",
        "dotted.key": "whole",
    }
    assert resolve_path(payload, path) is expected if expected is MISSING else resolve_path(payload, path) == expected


def test_a_list_of_paths_takes_the_first_present_value():
    mapping = Mapping({"field_mapping": {"call_id": ["uuid", "id", "callId"]}})
    assert mapping.map({"id": "", "callId": "c-3"}).call_id == "c-3"


def test_direction_keyed_paths_follow_the_call_direction():
    mapping = Mapping(
        {
            "field_mapping": {"call_id": "id", "direction": "dir", "caller_number": {"in": "remote", "out": "local"}},
            "direction_mapping": {"INCOMING": "in", "OUTGOING": "out"},
        }
    )
    assert mapping.map({"id": 1, "dir": "INCOMING", "remote": "+1", "local": "+2"}).fields["caller_number"] == "+1"
    assert mapping.map({"id": 1, "dir": "OUTGOING", "remote": "+1", "local": "+2"}).fields["caller_number"] == "+2"
    assert "caller_number" not in mapping.map({"id": 1, "remote": "+1"}).fields


def test_boolean_directions_are_mapped_by_their_json_names():
    mapping = Mapping(
        {
            "field_mapping": {"call_id": "id", "direction": "incoming"},
            "direction_mapping": {"true": "in", "false": "out"},
        }
    )
    assert mapping.map({"id": 1, "incoming": True}).fields["direction"] == "in"
    assert mapping.map({"id": 1, "incoming": False}).fields["direction"] == "out"


def test_times_in_iso_8601_and_epoch_seconds_and_milliseconds():
    mapping = Mapping({"field_mapping": {"call_id": "id", "timestamp": "t"}})
    for value in (
        "2021-09-30T10:36:19+00:00",
        "2021-09-30T10:36:19Z",
        "2021-09-30 10:36:19",
        1632998179,
        1632998179000,
        "1632998179",
    ):
        assert mapping.map({"id": 1, "t": value}).fields["timestamp"] == "2021-09-30T10:36:19+00:00", value


def test_values_that_are_not_what_the_field_needs_are_noted_not_fatal():
    mapping = Mapping({"field_mapping": {"call_id": "id", "duration": "d", "timestamp": "t", "caller_number": "c"}})
    event = mapping.map({"id": 1, "d": "long", "t": "yesterday", "c": {"nested": 1}})
    assert event.fields == {"call_id": "1"}
    assert [key for key, _ in event.notes] == [
        "bad-number:duration:long",
        "bad-time:timestamp:yesterday",
        "not-text:caller_number",
    ]


def test_a_call_id_that_is_an_object_is_a_mapping_error():
    with pytest.raises(MappingError):
        Mapping({"field_mapping": {"call_id": "id"}}).map({"id": {"a": 1}})
