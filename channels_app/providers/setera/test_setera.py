"""Setera OneCloud: every sample through the real endpoint and the worker, and the dialog checked field by field."""

from datetime import UTC, datetime

import pytest

from channels_app.models import RawEvent
from dialogs.models import Dialog
from tests.conftest import deliver, fixture

pytestmark = pytest.mark.django_db


def test_setera_incoming_call_three_posts_become_one_answered_dialog(client, setera, django_user_model):
    setera_user = django_user_model.objects.create_user("setera", "Setera.Test@SeteraTesting.fi", "pw-123-abc")

    deliver(client, setera, *fixture("setera_incoming.json"))

    dialog = Dialog.objects.get()
    assert dialog.call_id == "tvNAazZlEwDZTCO74Pk95Q"
    assert dialog.direction == "in"
    assert dialog.status == "answered"
    assert dialog.duration == pytest.approx(4.048)
    assert dialog.started_at == datetime(2021, 9, 30, 10, 36, 19, 315000, tzinfo=UTC)
    assert dialog.answered_at == datetime(2021, 9, 30, 10, 36, 21, 970000, tzinfo=UTC)
    assert dialog.ended_at == datetime(2021, 9, 30, 10, 36, 26, 18000, tzinfo=UTC)
    assert dialog.caller_number == "+35840940XXXX" and not dialog.caller_number_valid
    assert dialog.callee_number == "+35894272XXXX" and not dialog.callee_number_valid
    assert dialog.operator == setera_user, "operator matched by email, ignoring case"
    assert dialog.extra == {"termination_reason": "HANGUP", "device_type": "SOFT"}
    assert dialog.is_complete
    assert dialog.events.count() == 3
    assert list(RawEvent.objects.values_list("state", flat=True)) == ["processed"] * 3


def test_setera_outgoing_call_swaps_local_and_remote(client, setera):
    deliver(client, setera, *fixture("setera_outgoing.json"))

    dialog = Dialog.objects.get()
    assert (dialog.direction, dialog.status) == ("out", "answered")
    assert dialog.caller_number == "+35894272XXXX" and dialog.callee_number == "+35840940XXXX"
    assert dialog.duration == pytest.approx(2.709)
