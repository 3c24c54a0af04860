"""The operator panel in Debian's Chromium, fed the whole way: provider webhooks over HTTP to the live
server, the event worker and the django-q2 cluster in their own processes, a CRM that fails and a
recording host on 127.0.0.1."""

import io
import wave

import pytest
import requests

from actions.models import Action

from .browser import screenshot
from .conftest import fixture, wait_until
from .panel_helpers import wav_tone

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough (9.6 MB) that the player cannot have it all before the seek: seeking must ask for a range.
RECORDING_SECONDS = 600


def long_recording(seconds):
    """A real WAV file of `seconds`: one second of tone, repeated (cheaper than computing every sample)."""
    with wave.open(io.BytesIO(wav_tone(seconds=1)), "rb") as second:
        params, frames = second.getparams(), second.readframes(second.getnframes())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setparams(params)
        audio.writeframes(frames * seconds)
    return buffer.getvalue()


def deliver(live_server, channel, payload):
    url = f"{live_server.url}/webhooks/telephony/{channel.webhook_id}/?token={channel.token}"
    assert requests.post(url, json=payload, timeout=10).status_code == 202


def range_starts(server, path):
    """Where each request for `path` asked to start reading (0 when it asked for the whole file)."""
    starts = []
    for request in server.requests:
        if request.path == path:
            asked = request.headers.get("Range", "bytes=0-").removeprefix("bytes=")
            starts.append(int(asked.partition("-")[0] or 0))
    return starts


def log_in(page, live_server):
    page.goto(f"{live_server.url}/panel/")
    page.fill("#id_username", "olena")
    page.fill("#id_password", "pw-olena-123")
    page.click("#login")
    page.wait_for_selector("h1:has-text('Call history')")


def test_an_operator_works_calls_that_came_through_the_whole_pipeline(
    live_server, page, office, http_server, worker_process, task_cluster, settings
):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PANEL_POLL_SECONDS = 0.5
    http_server.route("POST", "/lookup", status=500, json={"error": "down"})
    http_server.route(
        "GET",
        "/calls/c-1001.wav",
        body=long_recording(RECORDING_SECONDS),
        headers={"Content-Type": "audio/wav"},
        ranges=True,
    )
    kyiv, helsinki = office["kyiv"], office["helsinki"]
    kyiv.enrich_action = Action.objects.create(
        name="CRM lookup",
        kind="http",
        parameters={
            "method": "POST",
            "url": http_server.url("/lookup"),
            "retries": 0,
            "timeout": 1,
            "outputs": {"operator_email": "manager.email"},
        },
    )
    kyiv.save()

    log_in(page, live_server)
    assert page.locator("#rows tr").count() == 0

    for event in fixture("setera_incoming.json"):
        deliver(live_server, helsinki, event)
    call = {
        **fixture("generic_call.json"),
        "caller": "050 123 45 67",
        "recording_url": http_server.url("/calls/c-1001.wav"),
        "transcript": "Customer: Hello, I would like to check my order.\nOperator: <b>Of course</b>, one moment.",
    }
    deliver(live_server, kyiv, call)

    page.wait_for_selector("#rows tr:has-text('+380501234567')", timeout=40000)  # no reload: the list polls
    wait_until(lambda: helsinki.dialogs.filter(ready_at__isnull=False).exists(), message="the Support call")
    page.wait_for_timeout(1500)  # a few more polls: the Support call must not come
    assert page.locator("#rows tr").count() == 1, "only the Sales bot's call"
    assert "+35840940XXXX" not in page.content()
    screenshot(page, "panel-pipeline-history")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
    screenshot(page, "panel-pipeline-history-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.select_option("select[name=direction]", "out")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**direction=out**")
    assert page.locator("#rows tr").count() == 0 and page.is_visible("text=No calls match these filters")

    page.goto(f"{live_server.url}/panel/")
    page.fill("input[name=q]", "050 123 45 67")  # the local format: stored as +380501234567
    page.click("button:has-text('Filter')")
    page.wait_for_url("**q=**")
    assert page.locator("#rows tr").count() == 1

    page.click("#rows tr a >> nth=0")
    page.wait_for_selector("#call-card")
    assert "I would like to check my order." in page.inner_text("#transcript")
    assert "<b>Of course</b>" in page.inner_text("#transcript"), "the provider's markup is shown as text"
    assert "enrichment failed: the external system answered HTTP 500" in page.inner_text("#feed")

    page.wait_for_function("document.getElementById('recording').duration > 0")
    assert page.evaluate("document.getElementById('recording').duration") == pytest.approx(RECORDING_SECONDS, abs=0.5)
    page.evaluate(f"document.getElementById('recording').currentTime = {RECORDING_SECONDS - 5}")
    wait_until(
        lambda: any(start > 0 for start in range_starts(http_server, "/calls/c-1001.wav")),
        timeout=10,
        message="a Range request for the part sought",
    )
    page.wait_for_function("document.getElementById('recording').readyState >= 3")  # data at the new position
    screenshot(page, "panel-pipeline-dialog")

    support_call = helsinki.dialogs.get()
    helsinki.dialogs.update(recording_url=http_server.url("/calls/c-1001.wav"))  # a recording she may not hear
    assert page.goto(f"{live_server.url}/panel/dialogs/{support_call.pk}/").status == 404
    assert page.goto(f"{live_server.url}/panel/dialogs/{support_call.pk}/recording/").status == 404
