"""Twilio: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

from datetime import UTC, datetime

import pytest

from channels_app import signatures
from tests.conftest import FORM, post_event, process_all, raw, the_dialog, webhook_path

pytestmark = pytest.mark.django_db


def twilio_signed(channel, body, auth_token="twilio-auth-token"):
    url = "http://testserver" + webhook_path(channel, False)
    return {"X-Twilio-Signature": signatures.twilio_signature(auth_token, url + signatures.twilio_fields(body))}


def test_twilio_status_callbacks_and_the_late_recording_callback_make_one_dialog(client, make_channel):
    channel = make_channel("twilio")
    channel.set_signature_secret("twilio-auth-token")
    channel.save()
    for name in [
        "twilio_status_initiated.txt",
        "twilio_status_completed.txt",
        "twilio_status_ringing.txt",
        "twilio_status_answered.txt",
        "twilio_recording_completed.txt",
    ]:
        body = raw(name)
        assert post_event(client, channel, body, FORM, token=False, **twilio_signed(channel, body)).status_code == 202
    unsigned = post_event(client, channel, raw("twilio_status_completed.txt"), FORM)
    assert unsigned.status_code == 401, "the URL token alone does not pass a Twilio channel"
    process_all()

    dialog = the_dialog()
    assert dialog.call_id == "CA5e5d1a9f0e5c4f2b8a1d3c7e9f1a2b3c"
    assert (dialog.direction, dialog.status, dialog.duration) == ("in", "answered", 91)
    assert (dialog.caller_number, dialog.callee_number) == ("+14155550142", "+16465550187")
    assert dialog.started_at == datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    assert dialog.answered_at == datetime(2026, 11, 24, 10, 0, 6, tzinfo=UTC)
    assert dialog.ended_at == datetime(2026, 11, 24, 10, 1, 37, tzinfo=UTC)
    assert dialog.recording_url.endswith("/Recordings/RE1f2e3d4c5b6a79880716253443526170")
    assert dialog.events.count() == 5
