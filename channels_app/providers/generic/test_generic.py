"""The setup guide's generic example: every sample through the real endpoint and the worker, and the dialog checked field by field."""

import pytest

from dialogs.models import Dialog
from tests.conftest import deliver, fixture

pytestmark = pytest.mark.django_db


def test_generic_one_event_call_from_the_setup_guide(client, generic, operator):
    deliver(client, generic, fixture("generic_call.json"))

    dialog = Dialog.objects.get()
    assert (dialog.call_id, dialog.direction, dialog.status, dialog.duration) == ("c-1001", "in", "answered", 62)
    assert dialog.caller_number == "+380501234567", "a local number gets the channel's country code"
    assert dialog.callee_number == "+380441234567"
    assert dialog.operator == operator
    assert dialog.recording_url == "https://pbx.example/rec/c-1001.mp3"
    assert dialog.transcript == "Hello, I would like to check my order."
    assert dialog.is_complete
