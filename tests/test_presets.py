"""Each provider preset, with the provider's sample payloads posted through the real endpoint."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from channels_app import presets
from dialogs.models import Dialog

from .conftest import FIXTURES, fixture, post_event, process_all

pytestmark = pytest.mark.django_db


def form_fixture(name):
    return (FIXTURES / name).read_text()


def test_every_preset_has_a_test_here():
    assert set(presets.all_presets()) == {"generic", "setera", "phonon", "wildix", "twilio"}


def test_twilio_status_callbacks_and_the_late_recording_callback_make_one_dialog(client, make_channel):
    channel = make_channel("twilio")
    for name in ["twilio_status_initiated.txt", "twilio_status_completed.txt", "twilio_status_ringing.txt",
                 "twilio_status_answered.txt", "twilio_recording_completed.txt"]:
        assert post_event(client, channel, form_fixture(name), content_type="application/x-www-form-urlencoded").status_code == 202
    process_all()

    dialog = Dialog.objects.get()
    assert dialog.call_id == "CA5e5d1a9f0e5c4f2b8a1d3c7e9f1a2b3c"
    assert (dialog.direction, dialog.status, dialog.duration) == ("in", "answered", 91)
    assert (dialog.caller_number, dialog.callee_number) == ("+14155550142", "+16465550187")
    assert dialog.started_at == datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    assert dialog.answered_at == datetime(2026, 11, 24, 10, 0, 6, tzinfo=UTC)
    assert dialog.ended_at == datetime(2026, 11, 24, 10, 1, 37, tzinfo=UTC)
    assert dialog.recording_url.endswith("/Recordings/RE1f2e3d4c5b6a79880716253443526170")
    assert dialog.events.count() == 5


def test_wildix_call_events_make_one_dialog(client, make_channel, django_user_model):
    operator = django_user_model.objects.create_user("vg", "Vladimir.Gorobets@wildix.com", "pw-vg-12345")
    channel = make_channel("wildix")
    channel.set_signature_secret("wildix-integration-secret")
    channel.save()
    for name in ["wildix_call_start.json", "wildix_call_update.json", "wildix_call_end.json"]:
        body = json.dumps(fixture(name))
        signed = hmac.new(b"wildix-integration-secret", body.encode(), hashlib.sha256).hexdigest()
        assert post_event(client, channel, body, token=False, **{"x-signature": signed}).status_code == 202
    process_all()

    dialog = Dialog.objects.get()
    assert (dialog.call_id, dialog.direction, dialog.status) == ("it_w118741_1693389850.110", "out", "missed")
    assert (dialog.caller_number, dialog.callee_number) == ("1001", "10020"), "extensions, kept as sent"
    assert dialog.operator == operator, "the local caller of an outgoing call"
    assert dialog.extra["end_cause"] == "Call Rejected" and dialog.extra["ended_by"] == "CALLER"
    assert dialog.started_at == datetime.fromtimestamp(1693389850.810, UTC)
    assert dialog.ended_at == datetime.fromtimestamp(1693389853.611, UTC)
