"""Telnyx: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

import base64
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import post_event, process_all, raw, the_dialog

pytestmark = pytest.mark.django_db


# The fixed key pair of Telnyx's own PHP SDK tests (telnyx-php tests/Services/WebhooksTest.php).
TELNYX_PUBLIC_KEY = "+7E99DXiiQXvceNX4nHm3Lbm5mqPWad5RhDr2ufuCik="
TELNYX_SECRET_KEY = "p68GNpDl9oAQohBiK0MEOFIjxnoFnz0uGGeJqxQ5PSb7sT30NeKJBe9x41ficebctubmao9Zp3lGEOva5+4KKQ=="


def telnyx_signed(body):
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(TELNYX_SECRET_KEY)[:32])
    stamp = str(int(time.time()))
    signature = private.sign(f"{stamp}|".encode() + body)
    return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": stamp}


def test_telnyx_events_with_the_recording_first_make_one_dialog(client, make_channel):
    channel = make_channel("telnyx")
    channel.set_signature_secret(TELNYX_PUBLIC_KEY)
    channel.save()

    recording = raw("telnyx_call_recording_saved.json")
    assert post_event(client, channel, recording, token=False, **telnyx_signed(recording)).status_code == 202
    process_all()
    waiting = the_dialog()
    assert not waiting.is_complete and waiting.recording_url == "http://example.com/recording.mp3", (
        "a recording that comes first opens the dialog, which waits for the call"
    )

    for name in ["telnyx_call_hangup.json", "telnyx_call_initiated.json", "telnyx_call_answered.json"]:
        body = raw(name)
        assert post_event(client, channel, body, token=False, **telnyx_signed(body)).status_code == 202
    tampered = raw("telnyx_call_hangup.json").replace(b"+35319605860", b"+35319605861")
    assert (
        post_event(client, channel, tampered, token=False, **telnyx_signed(raw("telnyx_call_hangup.json"))).status_code
        == 401
    )
    process_all()

    dialog = the_dialog()
    assert dialog.call_id == "428c31b6-7af4-4bcb-b7f5-5013ef9657c1"
    assert (dialog.direction, dialog.status) == ("in", "answered")
    assert (dialog.caller_number, dialog.callee_number) == ("+35319605860", "+13129457420")
    assert dialog.started_at == datetime(2018, 2, 2, 22, 20, 27, 521992, tzinfo=UTC)
    assert dialog.ended_at == datetime(2018, 2, 2, 22, 25, 27, 521992, tzinfo=UTC)
    assert dialog.recording_url == "http://example.com/recording.mp3"
    assert dialog.extra["end_cause"] == "call_rejected" and dialog.extra["hangup_source"] == "caller"
    assert dialog.events.count() == 4
