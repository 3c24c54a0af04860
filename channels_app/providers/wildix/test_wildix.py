"""Wildix: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from channels_app.models import RawEvent
from tests.conftest import fixture, post_event, process_all, the_dialog

pytestmark = pytest.mark.django_db


def wildix_signed(body, secret="wildix-integration-secret"):
    return {"x-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_wildix_call_events_and_the_late_transcript_make_one_dialog(client, make_channel, django_user_model):
    operator = django_user_model.objects.create_user("vg", "Vladimir.Gorobets@wildix.com", "pw-vg-12345")
    channel = make_channel("wildix")
    channel.set_signature_secret("wildix-integration-secret")
    channel.save()
    for name in [
        "wildix_call_start.json",
        "wildix_call_update.json",
        "wildix_call_end.json",
        "wildix_call_transcription_completed.json",
    ]:
        body = json.dumps(fixture(name)).encode()
        assert post_event(client, channel, body, token=False, **wildix_signed(body)).status_code == 202
    presence = json.dumps({"id": "p-1", "type": "presence:telephony", "data": {"status": "talking"}}).encode()
    assert post_event(client, channel, presence, token=False, **wildix_signed(presence)).status_code == 202
    process_all()

    dialog = the_dialog()
    assert (dialog.call_id, dialog.direction, dialog.status) == ("it_w118741_1693389850.110", "out", "missed")
    assert (dialog.caller_number, dialog.callee_number) == ("1001", "10020"), "extensions, kept as sent"
    assert dialog.operator == operator, "the local caller of an outgoing call"
    assert dialog.extra["end_cause"] == "Call Rejected" and dialog.extra["ended_by"] == "CALLER"
    assert dialog.started_at == datetime.fromtimestamp(1693389850.810, UTC)
    assert dialog.ended_at == datetime.fromtimestamp(1693389853.611, UTC)
    assert dialog.transcript.startswith("admin: Hi, it's Vladimir from the admin desk.")
    assert "user20: Sure, go ahead." in dialog.transcript
    assert RawEvent.objects.filter(state=RawEvent.State.IGNORED).count() == 1, "presence is stored and ignored"


def test_wildix_signatures_of_the_compact_object_are_accepted(client, make_channel):
    channel = make_channel("wildix")
    channel.set_signature_secret("wildix-integration-secret")
    channel.save()
    payload = fixture("wildix_call_end.json")
    sent = json.dumps(payload, indent=2).encode()  # what the wire carries
    signed = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()  # what JSON.stringify signs

    assert post_event(client, channel, sent, token=False, **wildix_signed(signed)).status_code == 202
    assert (
        post_event(
            client, channel, sent.replace(b"CALLER", b"CALLEE"), token=False, **wildix_signed(signed)
        ).status_code
        == 401
    )
