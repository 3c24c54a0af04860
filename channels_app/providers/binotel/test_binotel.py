"""Binotel: every sample through the real endpoint, with the preset's own
authentication on, and the dialog checked field by field."""

from datetime import UTC, datetime

import pytest

from channels_app.models import RawEvent
from tests.conftest import FORM, process_all, raw, the_dialog, webhook_path

pytestmark = pytest.mark.django_db


def test_binotel_call_completed_makes_a_dialog_and_gets_the_answer_binotel_expects(
    client, make_channel, django_user_model
):
    operator = django_user_model.objects.create_user("op1", "operator1@example.com", "pw-op1-12345")
    channel = make_channel("binotel")
    body = raw("binotel_call_completed.txt")

    def deliver(payload, address):
        return client.generic("POST", webhook_path(channel), payload, content_type=FORM, REMOTE_ADDR=address)

    answer = deliver(body, "194.88.218.116")
    assert answer.status_code == 200 and answer.json() == {"status": "success"}
    assert deliver(body, "203.0.113.9").status_code == 401, "only from Binotel's addresses"
    assert deliver(b"requestType=apiCallSettings&srcNumber=0441234567", "45.91.130.60").status_code == 200
    process_all()

    dialog = the_dialog()
    assert (dialog.call_id, dialog.direction, dialog.status, dialog.duration) == ("4900000001", "in", "answered", 95)
    assert (dialog.caller_number, dialog.callee_number) == ("+380441234567", "+380447654321")
    assert dialog.operator == operator
    assert dialog.started_at == datetime.fromtimestamp(1795514400, UTC)
    assert dialog.extra["operator_name"] == "Operator One" and dialog.extra["wait_seconds"] == "7"
    assert dialog.extra["record_link"].startswith("https://my.binotel.ua/?module=cdrs")
    assert RawEvent.objects.filter(state=RawEvent.State.IGNORED).count() == 1, "call settings requests are not calls"
