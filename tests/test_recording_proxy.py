"""The recording proxy serves audio and nothing else: whatever the recording host answers, nothing from it
runs as a page of our origin, and no trick URL reaches an address the administrator did not allow."""

import pytest

from recordings.models import Recording

from .browser import screenshot
from .panel_helpers import make_dialog, wav_tone
from .test_panel_browser import log_in_to_panel
from .url_tricks import ALLOWED, trick_urls

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT_PAGE = """<!doctype html><html><body><h1>Recording</h1>
<script>localStorage.setItem("ran", "yes"); fetch("{counter}", {{mode: "no-cors"}});</script></body></html>"""
SCRIPT_SVG = """<svg xmlns="http://www.w3.org/2000/svg"><script>localStorage.setItem("ran", "yes");
fetch("{counter}", {{mode: "no-cors"}});</script></svg>"""


@pytest.fixture
def hostile_host(http_server, settings):
    """A recording host that answers with pages carrying script; /ran counts every script that ran."""
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    counter = http_server.url("/ran")
    http_server.route("GET", "/ran", body="")
    http_server.route(
        "GET", "/page.html", body=SCRIPT_PAGE.format(counter=counter), headers={"Content-Type": "text/html"}
    )
    http_server.route(
        "GET", "/image.svg", body=SCRIPT_SVG.format(counter=counter), headers={"Content-Type": "image/svg+xml"}
    )
    http_server.route(
        "GET", "/disguised.wav", body=SCRIPT_PAGE.format(counter=counter), headers={"Content-Type": "audio/wav"}
    )
    http_server.route("GET", "/untyped", body=SCRIPT_PAGE.format(counter=counter))
    return http_server


def script_runs(http_server):
    return [request for request in http_server.requests if request.path == "/ran"]


@pytest.mark.parametrize("path", ["/page.html", "/image.svg", "/disguised.wav", "/untyped"])
def test_a_host_that_answers_with_anything_but_audio_gets_a_plain_error_and_none_of_its_body_is_passed_on(
    olena_client, office, hostile_host, path
):
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=hostile_host.url(path))

    response = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")
    body = b"".join(response.streaming_content) if response.streaming else response.content

    assert response.status_code == 502 and response["Content-Type"].startswith("text/plain")
    assert b"not audio" in body and b"<script" not in body and b"svg" not in body.lower().replace(b"image/svg", b"")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_audio_is_served_as_the_audio_it_is_with_nosniff_and_a_sandboxing_policy(
    olena_client, office, http_server, settings
):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    audio = wav_tone(seconds=1)
    http_server.route("GET", "/rec.wav", body=audio, headers={"Content-Type": "application/octet-stream"}, ranges=True)
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=http_server.url("/rec.wav"))

    whole = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")
    middle = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/", headers={"Range": "bytes=1000-1999"})

    assert whole.status_code == 200 and b"".join(whole.streaming_content) == audio
    assert whole["Content-Type"] == "audio/wav", "the type its first bytes show, not the host's word"
    assert middle.status_code == 206 and b"".join(middle.streaming_content) == audio[1000:2000]
    for response in (whole, middle):
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert not response["Content-Type"].startswith(("text/", "image/"))


def test_a_partial_answer_from_a_host_that_declares_html_is_refused(olena_client, office, http_server, settings):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route(
        "GET",
        "/rec.wav",
        body=b"x" * 3000 + b"<script>alert(1)</script>",
        headers={"Content-Type": "text/html"},
        ranges=True,
    )
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=http_server.url("/rec.wav"))

    response = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/", headers={"Range": "bytes=2990-"})

    assert response.status_code == 502 and b"<script" not in response.content


def test_our_stored_copy_is_served_with_nosniff_and_a_sandboxing_policy(olena_client, office, settings, tmp_path):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = str(tmp_path)
    dialog = make_dialog(office["kyiv"], "c-1", recording_url="https://rec.example/c-1.wav")
    recording = Recording(
        dialog=dialog, source_url=dialog.recording_url, state=Recording.State.READY, content_type="text/html"
    )
    recording.file.save("c-1.wav", ContentFile(b"<script>alert(1)</script>"), save=True)

    response = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Content-Type"] == "application/octet-stream", "a stored type that is not audio is never served"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd"]
)
def test_a_stored_non_http_recording_url_is_never_played_or_linked(olena_client, office, url):
    office["kyiv"].advanced_config["recordings"]["playback"] = "direct"
    office["kyiv"].save()
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=url)

    page = olena_client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()
    response = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")

    assert url not in page and "javascript:" not in page and 'id="recording"' not in page
    assert response.status_code in (404, 502)


def test_trick_recording_urls_never_reach_the_local_server_through_the_proxy(
    olena_client, office, http_server, settings
):
    settings.RECORDINGS_ALLOWED_HOSTS = [ALLOWED]
    http_server.route("GET", "/x", body=wav_tone(seconds=1), headers={"Content-Type": "audio/wav"})
    dialog = make_dialog(office["kyiv"], "c-1", recording_url="https://rec.example/")

    for url in trick_urls(http_server.port):
        dialog.__class__.objects.filter(pk=dialog.pk).update(recording_url=url[:2000])
        response = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")
        assert response.status_code in (404, 502), url

    assert http_server.connections == 0


@pytest.fixture
def olena_client(client, office):
    client.force_login(office["olena"])
    return client


def test_a_recording_host_serving_script_cannot_run_it_in_the_operators_session(
    live_server, page, office, hostile_host
):
    dialogs = [
        make_dialog(office["kyiv"], f"c-{n}", recording_url=hostile_host.url(path))
        for n, path in enumerate(["/page.html", "/image.svg", "/disguised.wav", "/untyped"])
    ]

    log_in_to_panel(page, live_server, "olena", "pw-olena-123")
    for dialog in dialogs:
        page.goto(f"{live_server.url}/panel/dialogs/{dialog.pk}/recording/")
        page.wait_for_timeout(300)
        page.goto(f"{live_server.url}/panel/dialogs/{dialog.pk}/")
        page.wait_for_selector("#call-card")
        page.wait_for_timeout(300)
    screenshot(page, "recording-proxy-hostile-host")

    page.goto(f"{live_server.url}/panel/")
    assert page.evaluate("localStorage.getItem('ran')") is None
    assert script_runs(hostile_host) == []
    assert [r.path for r in hostile_host.requests if r.path != "/ran"], "the proxy did ask the host"


def test_the_browser_check_would_see_a_script_that_ran(live_server, page, office, hostile_host):
    """The marker and the counter work: the same page opened from the host itself runs its script."""
    page.goto(hostile_host.url("/page.html"))
    page.wait_for_timeout(300)
    assert page.evaluate("localStorage.getItem('ran')") == "yes" and len(script_runs(hostile_host)) == 1
