"""Vonage: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

import hashlib
import time
from datetime import UTC, datetime

import jwt
import pytest

from tests.conftest import post_event, process_all, raw, the_dialog

pytestmark = pytest.mark.django_db


VONAGE_SECRET = "ZYtdTtGV3BCFN7tWmOWr1md66XsquMggr4W2cTtXtcPgfnI0Xw"


def vonage_signed(body):
    claims = {
        "iat": int(time.time()),
        "jti": "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5",
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "a1b2c3d",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    return {"Authorization": "Bearer " + jwt.encode(claims, VONAGE_SECRET, algorithm="HS256")}


def test_the_vonage_sdks_published_token_verifies_with_its_secret_only():
    token = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1ODc0OTQ5NjIsImp0aSI6ImM1YmE4ZjI0LTFhMTQtNGMxMC1iZmRmLTNmYmU4Y2U1"
        "MTFiNSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImQ2YzBlNzRiNTg1N2RmMjBlM2I3ZTUxYjMwYzBjMmE0MGVjNzNhNzc4NzliNmYw"
        "NzRkZGM3YTIzMTdkZDAzMWIiLCJhcGlfa2V5IjoiYTFiMmMzZCIsImFwcGxpY2F0aW9uX2lkIjoiYWFhYWFhYWEtYmJiYi1jY2NjLWRkZGQtMDEy"
        "MzQ1Njc4OWFiIn0.JQRKi1d0SQitmjPINfTWMpt3XZkGsLbD7EjCdXoNSbk"
    )
    options = {"verify_iat": False}
    assert jwt.decode(token, VONAGE_SECRET, algorithms=["HS256"], options=options)["iss"] == "Vonage"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "ZYtdTtGV3BCFN7tWmOWr1md66XsquMggr4W2cTtXtcPgf55555", algorithms=["HS256"], options=options)


def test_vonage_events_and_the_record_event_make_one_dialog(client, make_channel):
    channel = make_channel("vonage")
    channel.set_signature_secret(VONAGE_SECRET)
    channel.save()
    for name in [
        "vonage_ringing.json",
        "vonage_started.json",
        "vonage_completed.json",
        "vonage_answered.json",
        "vonage_recording.json",
    ]:
        body = raw(name)
        assert post_event(client, channel, body, token=False, **vonage_signed(body)).status_code == 202
    tampered = raw("vonage_completed.json").replace(b'"12"', b'"1200"')
    assert (
        post_event(client, channel, tampered, token=False, **vonage_signed(raw("vonage_completed.json"))).status_code
        == 401
    )
    process_all()

    dialog = the_dialog()
    assert dialog.call_id == "CON-8f5a100c-fbce-4218-8d4b-16341335bcd6"
    assert (dialog.direction, dialog.status, dialog.duration) == ("in", "answered", 12)
    assert dialog.caller_number == "447700900000", "a drama number is no real number: kept as sent, trimmed"
    assert dialog.callee_number == "+442038297050", "an international number sent without its +"
    assert dialog.started_at == datetime(2021, 3, 29, 21, 20, 6, tzinfo=UTC)
    assert dialog.ended_at == datetime(2021, 3, 29, 21, 20, 18, tzinfo=UTC)
    assert dialog.recording_url == "https://api.nexmo.com/v1/files/aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
    assert dialog.extra["leg_uuid"] == "0779a56d002f1c7f47f82ef5fe84ab79"
