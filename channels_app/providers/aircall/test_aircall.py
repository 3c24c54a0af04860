"""Aircall: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

import json
from datetime import UTC, datetime

import pytest

from channels_app.models import RawEvent
from tests.conftest import fixture, post_event, process_all, raw, the_dialog

pytestmark = pytest.mark.django_db


AIRCALL_OPERATOR = "koen.verduijn+v5doewlrdy@aircall.io"


def test_aircall_call_events_make_one_dialog(client, make_channel, django_user_model):
    operator = django_user_model.objects.create_user("koen", AIRCALL_OPERATOR, "pw-koen-12345")
    channel = make_channel("aircall")
    channel.set_signature_secret("REDACTED-aircall-webhook-token")
    channel.save()
    for name in ["aircall_call_ended.json", "aircall_call_created.json", "aircall_call_answered.json"]:
        assert post_event(client, channel, raw(name), token=False).status_code == 202
    forged = json.dumps({**fixture("aircall_call_ended.json"), "token": "guessed"})
    assert post_event(client, channel, forged, token=False).status_code == 401
    a_user_event = {
        "resource": "user",
        "event": "user.opened",
        "timestamp": 1646389800,
        "token": "REDACTED-aircall-webhook-token",
        "data": {"id": 736640, "email": AIRCALL_OPERATOR},
    }
    assert post_event(client, channel, a_user_event, token=False).status_code == 202
    process_all()

    dialog = the_dialog()
    assert (dialog.call_id, dialog.direction, dialog.status) == ("780836699", "out", "answered")
    assert (dialog.caller_number, dialog.callee_number) == ("+443308186690", "+43720880079")
    assert dialog.operator == operator
    assert dialog.started_at == datetime.fromtimestamp(1646389735, UTC)
    assert dialog.answered_at == datetime.fromtimestamp(1646389740, UTC)
    assert dialog.ended_at == datetime.fromtimestamp(1646389755, UTC)
    assert dialog.duration == 20
    assert dialog.extra["aircall_line"] == "Koens Test"
    assert RawEvent.objects.filter(state=RawEvent.State.IGNORED).count() == 1, "the user event is not a call"
