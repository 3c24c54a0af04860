"""The operator panel in a real browser (Debian's Chromium, driven by Playwright) against a live server."""

import pytest

from dialogs.models import FeedMessage

from .browser import screenshot
from .panel_helpers import make_dialog, wav_tone

pytestmark = pytest.mark.django_db(transaction=True)


def log_in_to_panel(page, live_server, username, password):
    page.goto(f"{live_server.url}/panel/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login")
    page.wait_for_selector("h1:has-text('Call history')")


def test_an_operator_works_the_panel(live_server, page, office, http_server, settings):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PANEL_POLL_SECONDS = 0.5
    http_server.route(
        "GET", "/calls/c-1.wav", body=wav_tone(seconds=4), headers={"Content-Type": "audio/wav"}, ranges=True
    )
    kyiv, helsinki = office["kyiv"], office["helsinki"]
    make_dialog(
        kyiv,
        "out-1",
        minutes_ago=9,
        direction="out",
        caller_number="+380442220000",
        callee_number="+380671112233",
        status="missed",
    )
    dialog = make_dialog(
        kyiv,
        "in-1",
        minutes_ago=8,
        caller_number="+380501234567",
        transcript="Operator: Good morning.\nCustomer: I would like to check my order.",
        recording_url=http_server.url("/calls/c-1.wav"),
        topic=office["topic"],
    )
    FeedMessage.objects.create(
        dialog=dialog, key="enrichment-failed", text="enrichment failed: the external system answered HTTP 500"
    )
    secret = make_dialog(helsinki, "support-1", minutes_ago=7, caller_number="+358401234567")

    log_in_to_panel(page, live_server, "olena", "pw-olena-123")
    rows = page.locator("#rows tr")
    assert rows.count() == 2, "only the Sales bot's calls"
    assert "+358401234567" not in page.content()
    screenshot(page, "panel-history")

    page.select_option("select[name=direction]", "out")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**direction=out**")
    assert page.locator("#rows tr").count() == 1 and "+380671112233" in page.inner_text("#rows")

    page.goto(f"{live_server.url}/panel/")
    page.fill("input[name=q]", "050 123 45 67")  # the local format of +380501234567
    page.click("button:has-text('Filter')")
    page.wait_for_url("**q=**")
    assert page.locator("#rows tr").count() == 1

    page.click("#rows tr a >> nth=0")
    page.wait_for_selector("#call-card")
    assert "I would like to check my order." in page.inner_text("#transcript")
    assert "enrichment failed: the external system answered HTTP 500" in page.inner_text("#feed")
    page.wait_for_function("document.getElementById('recording').duration > 0")
    assert page.evaluate("document.getElementById('recording').duration") == pytest.approx(4, abs=0.2)
    page.evaluate("document.getElementById('recording').currentTime = 3")
    page.wait_for_function("document.getElementById('recording').readyState >= 1")
    assert any("Range" in request.headers for request in http_server.requests), (
        "the player asks for ranges (seeking: test_panel_browser_pipeline)"
    )
    screenshot(page, "panel-dialog")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "panel-dialog-phone")

    response = page.goto(f"{live_server.url}/panel/dialogs/{secret.pk}/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/panel/dialogs/{secret.pk}/recording/")
    assert response.status == 404


def test_new_calls_appear_without_a_reload(live_server, page, office, settings):
    settings.PANEL_POLL_SECONDS = 0.3
    make_dialog(office["kyiv"], "first", minutes_ago=5)
    log_in_to_panel(page, live_server, "olena", "pw-olena-123")
    assert page.locator("#rows tr").count() == 1

    make_dialog(office["kyiv"], "second", minutes_ago=0, caller_number="+380931234567")

    page.wait_for_selector("#rows tr:has-text('+380931234567')", timeout=10000)
    assert page.locator("#rows tr").count() == 2
    assert page.locator("#rows tr").first.inner_text().find("+380931234567") >= 0


def test_a_failing_recording_shows_a_message_in_place_of_the_player(live_server, page, office, http_server, settings):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=http_server.url("/gone.wav"))
    log_in_to_panel(page, live_server, "olena", "pw-olena-123")

    page.goto(f"{live_server.url}/panel/dialogs/{dialog.pk}/")

    page.wait_for_selector("#recording-error", state="visible")
    assert "could not be loaded" in page.inner_text("#recording-error")
