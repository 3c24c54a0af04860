"""The channel's Test button: a synthetic call through the real endpoint, reported step by step."""

import json
import time
from dataclasses import dataclass, field

import requests
from django.utils import timezone

from dialogs.models import Dialog

from .authentication import test_headers
from .inspection import form_encoded, synthetic_event
from .models import RawEvent


@dataclass
class TestReport:
    steps: list = field(default_factory=list)  # (title, ok, detail)
    dialog: Dialog | None = None
    payload: dict | None = None

    @property
    def ok(self):
        return bool(self.steps) and all(ok for _, ok, _ in self.steps)

    def step(self, title, ok, detail=""):
        self.steps.append((title, ok, detail))
        return ok


def run_test(channel, operator_email="", wait_seconds=10.0):
    report = TestReport(payload=synthetic_event(channel, operator_email))
    call_id = channel.mapping.map(report.payload).call_id
    if channel.data_format == "form":
        body, content_type = form_encoded(report.payload), "application/x-www-form-urlencoded"
    else:
        body, content_type = json.dumps(report.payload), "application/json"
    try:
        answer = requests.post(
            channel.webhook_url,
            data=body,
            timeout=10,
            headers={"Content-Type": content_type, **test_headers(channel, body.encode())},
        )
    except requests.RequestException as exc:
        report.step(
            "Send the webhook",
            False,
            f"{channel.webhook_url} cannot be reached from the server ({exc}). Check PUBLIC_BASE_URL.",
        )
        return report
    if answer.status_code != 202:
        report.step("Send the webhook", False, f"The endpoint answered HTTP {answer.status_code}: {answer.text[:300]}")
        return report
    event_id = answer.json()["event_id"]
    report.step("Send the webhook", True, f"Accepted as event #{event_id}.")

    event = wait_for_processing(event_id, wait_seconds)
    if event.state in (RawEvent.State.RECEIVED, RawEvent.State.PROCESSING):
        report.step(
            "Process the event",
            False,
            f"No worker processed it within {wait_seconds:g} s: is the event "
            "worker (manage.py process_events) running?",
        )
        return report
    if event.state != RawEvent.State.PROCESSED:
        report.step("Process the event", False, f"The event {event.state}: {event.error}")
        return report
    report.step("Process the event", True, "Mapped and merged by the event worker.")

    report.dialog = Dialog.objects.filter(channel=channel, call_id=call_id).first()
    if report.step(
        "Create the test dialog",
        report.dialog is not None and report.dialog.is_test,
        "" if report.dialog else "No dialog has the test call's id.",
    ):
        report.step(
            "Complete the call",
            report.dialog.is_complete,
            f"Status {report.dialog.status}."
            if report.dialog.is_complete
            else "The call is not complete: map a final status in status_mapping.",
        )
    return report


def wait_for_processing(event_id, wait_seconds):
    deadline = timezone.now().timestamp() + wait_seconds
    while True:
        event = RawEvent.objects.get(pk=event_id)
        if event.state not in (RawEvent.State.RECEIVED, RawEvent.State.PROCESSING) or time.time() > deadline:
            return event
        time.sleep(0.2)
