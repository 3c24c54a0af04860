"""Provider events through the real endpoint and the worker's processing: one dialog per call."""

import itertools
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app import authentication
from channels_app.models import RawEvent
from dialogs.models import CallEvent, Dialog

from .conftest import deliver, fixture, post_event, process_all

pytestmark = pytest.mark.django_db


def test_masked_numbers_are_kept_as_sent_and_noted_in_the_feed(client, setera):
    deliver(client, setera, *fixture("setera_incoming.json"))

    texts = list(Dialog.objects.get().messages.values_list("text", flat=True))
    assert "The caller number '+35840940XXXX' is not a valid phone number; kept as sent." in texts
    assert "The callee number '+35894272XXXX' is not a valid phone number; kept as sent." in texts


def test_a_call_that_ends_unanswered_is_missed_with_zero_duration(client, setera):
    early, _, terminated = fixture("setera_incoming.json")
    terminated["termination-reason"] = "CANCELLED"

    deliver(client, setera, early, terminated)

    dialog = Dialog.objects.get()
    assert dialog.status == "missed"
    assert dialog.duration == 0
    assert dialog.answered_at is None
    assert dialog.is_complete


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_out_of_order_events_give_the_same_dialog_as_in_order(client, setera, order):
    events = fixture("setera_incoming.json")

    deliver(client, setera, *[events[i] for i in order])

    dialog = Dialog.objects.get()
    assert (dialog.status, dialog.direction, dialog.duration) == ("answered", "in", pytest.approx(4.048))
    assert dialog.started_at.second == 19 and dialog.ended_at.second == 26


def test_a_call_in_progress_is_not_complete_until_its_terminal_event(client, setera):
    early, confirmed, terminated = fixture("setera_incoming.json")

    deliver(client, setera, early, confirmed)
    dialog = Dialog.objects.get()
    assert (dialog.status, dialog.is_complete) == ("connected", False)

    deliver(client, setera, terminated)
    dialog.refresh_from_db()
    assert (dialog.status, dialog.is_complete) == ("answered", True)


def test_duplicate_deliveries_are_accepted_and_change_nothing(client, setera):
    events = fixture("setera_incoming.json")
    deliver(client, setera, *events)
    before = Dialog.objects.values().get()

    deliver(client, setera, *events, *events)  # a provider retrying every event twice more

    assert Dialog.objects.count() == 1
    after = Dialog.objects.values().get()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    assert CallEvent.objects.count() == 3
    states = list(RawEvent.objects.order_by("id").values_list("state", flat=True))
    assert states == ["processed"] * 3 + ["duplicate"] * 6


def test_a_json_array_of_events_in_one_body_merges_into_one_dialog(client, setera):
    deliver(client, setera, fixture("setera_incoming.json"))

    dialog = Dialog.objects.get()
    assert dialog.status == "answered" and dialog.events.count() == 3


def test_the_same_call_id_on_two_channels_is_two_dialogs(client, make_channel):
    first, second = make_channel("setera", name="Helsinki"), make_channel("setera", name="Espoo")

    deliver(client, first, *fixture("setera_incoming.json"))
    deliver(client, second, *fixture("setera_incoming.json"))

    assert Dialog.objects.count() == 2


def test_a_form_urlencoded_body_with_php_brackets_maps_like_json(client, make_channel):
    channel = make_channel("phonon", data_format="form")
    form = (
        "phonon-uuid=form-1&callDetails[0][calleeNumber]=9876543210&callDetails[0][didNumber]=8045671234"
        "&callDetails[0][incoming]=true&callDetails[0][duration]=30&recordingUrls[0][recordedFilePublicPath]="
        "https%3A%2F%2Frec.example%2Fa.mp3&keys[0][name]=lang&keys[0][value]=uk"
    )

    deliver(client, channel, form, content_type="application/x-www-form-urlencoded")

    dialog = Dialog.objects.get()
    assert (dialog.call_id, dialog.direction, dialog.status, dialog.duration) == ("form-1", "in", "answered", 30)
    assert dialog.caller_number == "+919876543210"
    assert dialog.recording_url == "https://rec.example/a.mp3"
    assert dialog.extra["keys"] == [{"name": "lang", "value": "uk"}]


def test_the_channel_data_format_decides_when_the_content_type_says_nothing(client, make_channel):
    channel = make_channel("generic", data_format="form")

    deliver(client, channel, "call_id=f-7&status=MISSED&caller=0501234567&direction=in", content_type="text/plain")

    dialog = Dialog.objects.get()
    assert (dialog.call_id, dialog.status) == ("f-7", "missed")


def test_unmapped_values_are_kept_as_sent_and_noted(client, generic):
    payload = {**fixture("generic_call.json"), "status": "WEIRD_STATE", "direction": "sideways"}

    deliver(client, generic, payload)

    dialog = Dialog.objects.get()
    assert dialog.status == "WEIRD_STATE"
    assert dialog.direction == "sideways"
    assert not dialog.is_complete, "an unknown status is not a final one"
    texts = list(dialog.messages.values_list("text", flat=True))
    assert "Status 'WEIRD_STATE' is not in status_mapping; kept as sent." in texts
    assert "Direction 'sideways' is not in direction_mapping; kept as sent." in texts


def test_an_operator_email_with_no_active_user_leaves_the_dialog_unassigned(client, generic, operator):
    operator.is_active = False
    operator.save()

    deliver(client, generic, fixture("generic_call.json"))

    dialog = Dialog.objects.get()
    assert dialog.operator is None
    assert dialog.operator_ref == "operator@example.COM"
    assert dialog.messages.filter(text__contains="No active user has the email 'operator@example.COM'").exists()


def test_a_payload_without_the_call_id_fails_with_a_message_naming_the_path(client, generic):
    payload = fixture("generic_call.json")
    payload["callId"] = payload.pop("call_id")

    deliver(client, generic, payload)

    event = RawEvent.objects.get()
    assert event.state == RawEvent.State.FAILED
    assert event.error.startswith("field_mapping.call_id: \"call_id\" is not in the payload; the payload has 'caller'")
    assert "'callId'" in event.error
    assert not Dialog.objects.exists()


def test_reprocessing_after_the_mapping_was_fixed_creates_the_dialog_once(client, generic):
    payload = fixture("generic_call.json")
    payload["callId"] = payload.pop("call_id")
    deliver(client, generic, payload, payload)
    assert not Dialog.objects.exists()

    generic.advanced_config["field_mapping"]["call_id"] = "callId"
    generic.save()
    for event in RawEvent.objects.all():
        event.requeue()
    process_all()
    for event in RawEvent.objects.all():
        event.requeue()
    process_all()

    assert Dialog.objects.get().call_id == "c-1001"
    assert CallEvent.objects.count() == 1


def test_reprocessing_with_a_changed_call_id_mapping_moves_the_event_and_drops_the_empty_dialog(client, generic):
    payload = {**fixture("generic_call.json"), "external_id": "ext-9"}
    deliver(client, generic, payload)

    generic.advanced_config["field_mapping"]["call_id"] = "external_id"
    generic.save()
    RawEvent.objects.get().requeue()
    process_all()

    assert list(Dialog.objects.values_list("call_id", flat=True)) == ["ext-9"]


def test_values_too_long_for_their_field_are_cut_and_noted_not_a_crash(client, generic):
    deliver(client, generic, {**fixture("generic_call.json"), "caller": "1" * 500, "status": "S" * 500})

    dialog = Dialog.objects.get()
    assert len(dialog.caller_number) == 64 and not dialog.caller_number_valid
    assert len(dialog.status) == 64
    assert dialog.messages.filter(text="caller_number: longer than 64 characters; cut.").exists()


def test_a_call_whose_final_event_never_comes_is_completed_by_the_sweep(client, setera, settings):
    early, confirmed, _ = fixture("setera_incoming.json")
    deliver(client, setera, early, confirmed)
    dialog = Dialog.objects.get()

    assert Dialog.complete_stale() == 0, "not stale yet"
    later = timezone.now() + timedelta(seconds=settings.CALL_COMPLETION_TIMEOUT + 1)
    assert Dialog.complete_stale(now=later) == 1

    dialog.refresh_from_db()
    assert (dialog.status, dialog.is_complete, dialog.completed_by_sweep) == ("answered", True, True)
    assert dialog.messages.filter(key="completed-by-sweep").exists()
    assert Dialog.complete_stale(now=later) == 0


def test_a_late_event_after_the_sweep_still_updates_the_dialog(client, setera, settings):
    early, confirmed, terminated = fixture("setera_incoming.json")
    deliver(client, setera, early)
    Dialog.complete_stale(now=timezone.now() + timedelta(seconds=settings.CALL_COMPLETION_TIMEOUT + 1))
    assert Dialog.objects.get().status == "missed"

    deliver(client, setera, confirmed, terminated)

    dialog = Dialog.objects.get()
    assert dialog.status == "answered" and dialog.duration == pytest.approx(4.048)


def test_the_feed_lists_events_and_service_messages_in_time_order(client, setera):
    deliver(client, setera, *fixture("setera_incoming.json"))

    feed = Dialog.objects.get().feed()
    kinds = [kind for _, kind, _ in feed]
    assert kinds.count("event") == 3
    assert kinds.count("service") == 3, "two numbers that are masked, one operator who is no user"
    assert [entry.status for _, kind, entry in feed if kind == "event"] == ["ringing", "connected", "ended"]
    assert [moment for moment, _, _ in feed] == sorted(moment for moment, _, _ in feed)


def test_the_event_body_is_kept_byte_for_byte(client, setera):
    body = json.dumps(fixture("setera_incoming.json")[0], indent=4).encode()
    post_event(client, setera, body)
    assert bytes(RawEvent.objects.get().body) == body


def test_fields_the_mapping_does_not_name_are_kept_in_the_event_but_not_on_the_dialog(client, generic):
    deliver(client, generic, {**fixture("generic_call.json"), "queue": "vip", "pbx_node": {"id": 7}})

    dialog = Dialog.objects.get()
    assert dialog.status == "answered" and dialog.extra == {}
    assert dialog.events.get().payload["pbx_node"] == {"id": 7}


def test_a_delivery_marked_as_a_test_makes_a_test_dialog(client, generic):
    body = json.dumps(fixture("generic_call.json"))
    deliver(client, generic, body, **authentication.test_headers(generic, body.encode()))

    assert RawEvent.objects.get().is_test
    assert Dialog.objects.get().is_test


def test_a_complete_call_without_an_enrich_action_is_ready_for_the_panel_at_once(client, setera):
    early, confirmed, terminated = fixture("setera_incoming.json")
    deliver(client, setera, early, confirmed)
    assert Dialog.objects.get().ready_at is None

    deliver(client, setera, terminated)
    dialog = Dialog.objects.get()
    assert dialog.completed_at is not None and dialog.ready_at >= dialog.completed_at
    assert dialog.enrichment_state == "none"
