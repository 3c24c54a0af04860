"""Phonon Central: every sample through the real endpoint and the worker, and the dialog checked field by field."""

from datetime import UTC, datetime

import pytest

from dialogs.models import Dialog
from tests.conftest import deliver, fixture

pytestmark = pytest.mark.django_db


def test_phonon_flow_end_webhook_is_one_complete_dialog(client, phonon):
    deliver(client, phonon, fixture("phonon_flow_end.json"))

    dialog = Dialog.objects.get()
    assert dialog.call_id == "3f8e2c1a-7d45-4b0e-9a61-2c5d8e4f7b90"
    assert dialog.direction == "in"
    assert dialog.status == "answered"
    assert dialog.duration == 95
    assert dialog.caller_number == "+919876543210"
    assert dialog.callee_number == "+918045671234"
    assert dialog.started_at == datetime(2024, 3, 5, 10, 15, 2, tzinfo=UTC)
    assert dialog.answered_at == datetime(2024, 3, 5, 10, 15, 12, tzinfo=UTC)
    assert dialog.ended_at == datetime(2024, 3, 5, 10, 16, 47, tzinfo=UTC)
    assert dialog.recording_url == "https://recordings.phonon.example/3f8e2c1a.mp3"
    assert dialog.extra["keys"] == fixture("phonon_flow_end.json")["keys"]
    assert dialog.extra["hangup_cause"] == "16"
    assert dialog.is_complete


def test_phonon_outgoing_call_with_zero_duration_is_missed(client, phonon):
    payload = fixture("phonon_flow_end.json")
    payload["callDetails"][0].update(incoming=False, duration="0", connectTime="")

    deliver(client, phonon, payload)

    dialog = Dialog.objects.get()
    assert (dialog.direction, dialog.status, dialog.duration) == ("out", "missed", 0)
    assert dialog.caller_number == "+918045671234" and dialog.callee_number == "+919876543210"
