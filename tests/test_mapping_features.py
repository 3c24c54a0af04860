"""What the mapping expresses beyond paths: status and direction from several places, glob keys, transfer
legs, events that are not calls, and local times in the channel's zone."""

from datetime import UTC, datetime

import pytest

from channels_app.advanced_config import config_errors
from channels_app.mapping import Mapping
from channels_app.models import RawEvent
from dialogs.models import Dialog

from .conftest import fixture, post_event, process_all


def test_status_from_several_paths_takes_the_first_value_the_mapping_knows():
    """Wildix: the event type says the call ended; otherwise data.status tells the state."""
    mapping = Mapping(
        {
            "field_mapping": {"call_id": "id", "status": ["type", "data.status"]},
            "status_mapping": {"call:end": "ended", "TALKING": "connected", "CONNECTING": "ringing"},
        }
    )
    assert mapping.map({"id": 1, "type": "call:end", "data": {"status": "TALKING"}}).fields["status"] == "ended"
    assert mapping.map({"id": 1, "type": "call:update", "data": {"status": "TALKING"}}).fields["status"] == "connected"
    unknown = mapping.map({"id": 1, "type": "call:odd", "data": {"status": "ODD"}})
    assert unknown.fields["status"] == "call:odd" and unknown.notes


def test_glob_keys_read_direction_from_a_value_pattern():
    """Zadarma: pbx_call_id starts with in_ or out_."""
    mapping = Mapping(
        {
            "field_mapping": {"call_id": "pbx_call_id", "direction": "pbx_call_id"},
            "direction_mapping": {"in_*": "in", "out_*": "out"},
        }
    )
    assert mapping.map({"pbx_call_id": "in_7d3a"}).fields["direction"] == "in"
    assert mapping.map({"pbx_call_id": "out_9c1f"}).fields["direction"] == "out"


def test_direction_from_which_party_is_local():
    mapping = Mapping(
        {
            "field_mapping": {"call_id": "id", "direction": "data.caller.type"},
            "direction_mapping": {"LOCAL": "out", "REMOTE": "in"},
        }
    )
    assert mapping.map(fixture("wildix_call_end.json")).fields["direction"] == "out"


def test_zone_less_local_times_are_read_in_the_channels_time_zone():
    mapping = Mapping({"field_mapping": {"call_id": "id", "timestamp": "call_start"}, "timezone": "Europe/Kyiv"})
    moment = mapping.map({"id": 1, "call_start": "2026-07-01 12:00:00"}).fields["timestamp"]
    assert datetime.fromisoformat(moment) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert config_errors({"field_mapping": {"call_id": "id"}, "timezone": "Mars/Olympus"}) == [
        "timezone: 'Mars/Olympus' is not a time zone such as Europe/Kyiv"
    ]


@pytest.mark.django_db
def test_transfer_legs_chain_into_the_parent_calls_dialog(client, make_channel):
    channel = make_channel("twilio")
    channel.advanced_config["authentication"] = {"scheme": "token"}  # Twilio's signature has its own tests
    channel.save()
    parent = "CAparent000000000000000000000000001"
    for body in [
        f"CallSid={parent}&CallStatus=in-progress&Direction=inbound&From=%2B14155550142&To=%2B16465550187&SequenceNumber=0",
        f"CallSid=CAleg&ParentCallSid={parent}&CallStatus=completed&Direction=outbound-dial&CallDuration=30&SequenceNumber=1",
        f"CallSid={parent}&CallStatus=completed&Direction=inbound&CallDuration=45&SequenceNumber=2",
    ]:
        post_event(client, channel, body, content_type="application/x-www-form-urlencoded")
    process_all()

    dialog = Dialog.objects.get()
    assert dialog.call_id == parent and dialog.events.count() == 3
    assert dialog.extra["leg_call_id"] == "CAleg"


@pytest.mark.django_db
def test_events_that_are_not_calls_are_stored_answered_and_ignored(client, admin_client, make_channel):
    channel = make_channel("wildix")
    channel.advanced_config["ignore"] = [{"path": "type", "values": ["presence:*", "chat:*"]}]
    channel.advanced_config["authentication"] = {"scheme": "token"}  # signatures have their own tests
    channel.save()

    response = post_event(client, channel, {"type": "presence:user", "id": "u1", "data": {"status": "Away"}})
    post_event(client, channel, fixture("wildix_call_end.json"))
    process_all()

    assert response.status_code == 202
    assert sorted(RawEvent.objects.values_list("state", flat=True)) == ["ignored", "processed"]
    assert Dialog.objects.count() == 1
    metrics = admin_client.get("/metrics/").content.decode()
    assert 'state="ignored"} 1' in metrics
