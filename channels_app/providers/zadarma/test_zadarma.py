"""Zadarma: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest

from channels_app import providers
from tests.conftest import FORM, post_event, process_all, raw, the_dialog, webhook_path

pytestmark = pytest.mark.django_db


ZADARMA_SECRET = "zadarma-api-secret-key"
ZADARMA_SIGNED_FIELDS = providers.load("zadarma")["advanced_config"]["authentication"]["signed_content"]["templates"]


def zadarma_signed(body, secret=ZADARMA_SECRET):
    fields = dict(parse_qsl(body.decode()))
    content = ZADARMA_SIGNED_FIELDS[fields["event"]].format(
        **{**dict.fromkeys(["internal", "destination"], ""), **fields}
    )
    digest = hmac.new(secret.encode(), content.encode(), hashlib.sha1).hexdigest()  # PHP: hash_hmac('sha1', …)
    return {"Signature": base64.b64encode(digest.encode()).decode()}


@pytest.fixture
def zadarma(make_channel):
    channel = make_channel("zadarma")
    channel.advanced_config["timezone"] = "Europe/Kyiv"
    channel.set_signature_secret(ZADARMA_SECRET)
    channel.save()
    return channel


def test_zadarma_notifications_make_an_incoming_and_an_outgoing_dialog(client, zadarma):
    for name in [
        "zadarma_notify_record.txt",
        "zadarma_notify_end.txt",
        "zadarma_notify_start.txt",
        "zadarma_notify_internal.txt",
        "zadarma_notify_answer.txt",
        "zadarma_notify_out_start.txt",
        "zadarma_notify_out_end.txt",
    ]:
        body = raw(name)
        assert post_event(client, zadarma, body, FORM, token=False, **zadarma_signed(body)).status_code == 202
    wrong_key = raw("zadarma_notify_end.txt")
    assert (
        post_event(client, zadarma, wrong_key, FORM, token=False, **zadarma_signed(wrong_key, "other")).status_code
        == 401
    )
    process_all()

    incoming = the_dialog(call_id="in_7c1f0a5e3b9d4c2a8e6f1b0d9a7c5e3f")
    assert (incoming.direction, incoming.status, incoming.duration) == ("in", "answered", 95)
    assert incoming.caller_number == "441632960123", "a drama number is no real number: kept as sent"
    assert incoming.callee_number == "+442079460000"
    assert incoming.started_at == datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Kyiv")), (
        "local time in the channel's zone"
    )
    assert incoming.extra["extension"] == "100" and incoming.extra["recording_id"] == "1795514400.4271035"
    assert incoming.events.count() == 5, "the late NOTIFY_RECORD joins the call"

    outgoing = the_dialog(call_id="out_2d4b6f8a0c1e3a5b7d9f1c3e5a7b9d0f")
    assert (outgoing.direction, outgoing.status, outgoing.duration) == ("out", "answered", 42)
    assert (outgoing.caller_number, outgoing.callee_number) == ("+442079460000", "441632960456")
    assert outgoing.started_at == datetime(2026, 11, 24, 11, 30, tzinfo=ZoneInfo("Europe/Kyiv"))


def test_zadarma_url_check_is_answered(client, zadarma):
    answer = client.get(webhook_path(zadarma, False) + "?zd_echo=4f2a9c")
    assert answer.status_code == 200 and answer.content == b"4f2a9c"
