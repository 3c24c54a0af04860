"""Recordings: kept as a link or downloaded into storage, safely and patiently; played from our copy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dialogs.models import Dialog
from recordings.models import Recording
from recordings.tasks import download_recording

from .audio_helpers import spoken
from .conftest import fixture, post_event, process_all, run_queued_tasks
from .http_server import TestHTTPServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def downloading(make_channel, settings, tmp_path):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    channel = make_channel("generic")
    channel.advanced_config["recordings"] = {"enabled": True, "download": True}
    channel.save()
    return channel


def call_with_recording(client, channel, url):
    post_event(client, channel, {**fixture("generic_call.json"), "recording_url": url})
    process_all()
    run_queued_tasks()
    return Recording.objects.get()


@pytest.mark.parametrize(
    "rate, kind, content_type", [(8000, "wav", "audio/wav"), (16000, "wav", "audio/x-wav"), (8000, "mp3", "audio/mpeg")]
)
def test_a_recording_is_downloaded_into_storage(client, downloading, http_server, tmp_path, rate, kind, content_type):
    audio = spoken("Thank you for calling. How can I help you today?", tmp_path, "greeting", rate, kind).read_bytes()
    http_server.route("GET", f"/rec.{kind}", body=audio, headers={"Content-Type": content_type})

    recording = call_with_recording(client, downloading, http_server.url(f"/rec.{kind}"))

    assert recording.state == "ready" and recording.size == len(audio)
    assert recording.content_type == ("audio/mpeg" if kind == "mp3" else "audio/wav")
    with recording.file.open("rb") as stored:
        assert stored.read() == audio


def test_the_panel_plays_our_copy_with_range(client, downloading, http_server, tmp_path, django_user_model):
    audio = spoken("One two three four five.", tmp_path, "count").read_bytes()
    http_server.route("GET", "/rec.wav", body=audio, headers={"Content-Type": "audio/wav"})
    recording = call_with_recording(client, downloading, http_server.url("/rec.wav"))
    http_server.routes.clear()  # the provider's file is gone: we play our own copy
    staff = django_user_model.objects.create_user("root", "root@example.com", "pw-root-123", is_staff=True)
    client.force_login(staff)

    whole = client.get(f"/panel/dialogs/{recording.dialog_id}/recording/")
    part = client.get(f"/panel/dialogs/{recording.dialog_id}/recording/", headers={"Range": "bytes=44-143"})

    assert whole.status_code == 200 and b"".join(whole.streaming_content) == audio
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 44-143/{len(audio)}"
    assert b"".join(part.streaming_content) == audio[44:144]


@pytest.mark.parametrize(
    "route, reason",
    [
        (
            {"status": 200, "body": "<html><body>Error 500</body></html>", "headers": {"Content-Type": "text/html"}},
            "its host sent text/html, not audio",
        ),
        (
            {"status": 200, "body": b"\x89PNG\r\n\x1a\n" + b"0" * 100, "headers": {"Content-Type": "audio/wav"}},
            "the file is not WAV, MP3, OGG/Opus or M4A audio",
        ),
        (
            {"status": 200, "body": b"RIFF" + b"0" * 5000, "headers": {"Content-Type": "audio/wav"}},
            "the file is larger than 1000 bytes",
        ),
    ],
)
def test_a_bad_file_is_refused_with_a_service_message(client, downloading, http_server, settings, route, reason):
    settings.RECORDING_MAX_BYTES = 1000
    http_server.route("GET", "/rec.wav", **route)

    recording = call_with_recording(client, downloading, http_server.url("/rec.wav"))

    assert recording.state == "failed" and not recording.file
    dialog = Dialog.objects.get()
    assert dialog.messages.filter(text=f"The recording was refused: {reason}").exists()
    assert dialog.recording_url == http_server.url("/rec.wav"), "the URL is kept"


def test_a_recording_not_ready_yet_is_retried_patiently_then_given_up_with_a_message(client, downloading, http_server):
    recording = call_with_recording(client, downloading, http_server.url("/not-yet.wav"))
    assert (recording.state, recording.attempts) == ("pending", 1)
    assert recording.next_attempt_at > timezone.now() + timedelta(seconds=50), "waits before trying again"

    from recordings.pipeline import queue_due_downloads

    for _ in range(5):
        Recording.objects.update(next_attempt_at=timezone.now())
        assert queue_due_downloads() == 1
        run_queued_tasks()
    recording.refresh_from_db()

    assert recording.state == "failed" and recording.attempts == 6
    assert "its host answered HTTP 404" in recording.last_error
    assert (
        Dialog.objects.get()
        .messages.filter(text__startswith="The recording could not be downloaded after 6 attempts")
        .exists()
    )
    assert Dialog.objects.get().ready_at is not None, "the call was never blocked by it"


def test_an_administrator_can_retry_a_failed_download(client, admin_client, downloading, http_server, tmp_path):
    recording = call_with_recording(client, downloading, http_server.url("/late.wav"))
    Recording.objects.update(state="failed")
    http_server.route(
        "GET",
        "/late.wav",
        body=spoken("Finally here.", tmp_path, "late").read_bytes(),
        headers={"Content-Type": "audio/wav"},
    )

    admin_client.post("/admin/recordings/recording/", {"action": "retry_download", "_selected_action": [recording.pk]})
    run_queued_tasks()

    recording.refresh_from_db()
    assert recording.state == "ready"


def test_a_recording_on_a_private_address_is_refused(client, downloading, http_server, settings):
    settings.RECORDINGS_ALLOWED_HOSTS = []
    http_server.route("GET", "/rec.wav", body=b"RIFF")

    recording = call_with_recording(client, downloading, http_server.url("/rec.wav"))

    assert recording.state == "failed" and http_server.requests == []
    assert "private or local address" in recording.last_error


def test_with_download_off_only_the_link_is_kept(client, make_channel):
    channel = make_channel("generic")
    recording = call_with_recording(client, channel, "https://pbx.example/rec/c-1001.mp3")
    assert recording.state == "linked" and not recording.file


def test_with_recordings_off_the_fields_are_ignored(client, make_channel):
    channel = make_channel("generic")
    channel.advanced_config["recordings"] = {"enabled": False}
    channel.save()
    post_event(client, channel, fixture("generic_call.json"))
    process_all()
    assert Dialog.objects.get().recording_url == "" and not Recording.objects.exists()


def test_a_recording_host_that_needs_credentials_gets_them_and_the_secret_stays_hidden(
    client, admin_client, downloading, http_server, tmp_path
):
    import base64

    downloading.advanced_config["recordings"]["auth"] = {
        "type": "basic",
        "username": "pbx-user",
        "hosts": ["127.0.0.1"],
    }
    downloading.set_recording_secret("rec-secret-789")
    downloading.save()
    http_server.route(
        "GET",
        "/private.wav",
        body=spoken("Private.", tmp_path, "private").read_bytes(),
        headers={"Content-Type": "audio/wav"},
    )

    recording = call_with_recording(client, downloading, http_server.url("/private.wav"))

    assert recording.state == "ready"
    sent = http_server.requests[0].headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"pbx-user:rec-secret-789").decode()
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{downloading.pk}/change/").content.decode()
    assert "rec-secret-789" not in page and "Recording host secret" in page
    assert "rec-secret-789" not in downloading.recording_secret_encrypted


@pytest.fixture
def two_hosts(http_server):
    """The recording host the administrator listed for the credential, and another one."""
    other = TestHTTPServer()
    yield http_server, other
    other.stop()


def with_bearer_for(channel, host):
    channel.advanced_config["recordings"]["auth"] = {"type": "bearer", "hosts": [host]}
    channel.set_recording_secret("rec-secret-789")
    channel.save()


def credentials_seen(server):
    return [r for r in server.requests if "rec-secret-789" in str(r.headers)]


def test_the_download_sends_the_credential_only_to_the_listed_host(client, downloading, two_hosts, tmp_path):
    listed, unlisted = two_hosts
    with_bearer_for(downloading, f"127.0.0.1:{listed.port}")
    audio = spoken("Hello.", tmp_path, "hello").read_bytes()
    for server in two_hosts:
        server.route("GET", "/rec.wav", body=audio, headers={"Content-Type": "audio/wav"})

    recording = call_with_recording(client, downloading, unlisted.url("/rec.wav"))

    assert recording.state == "ready", "an unlisted host is called, without the credential"
    assert len(unlisted.requests) == 1 and credentials_seen(unlisted) == []
    Recording.objects.all().delete()
    Dialog.objects.all().delete()
    assert call_with_recording(client, downloading, listed.url("/rec.wav")).state == "ready"
    assert listed.requests[0].headers["Authorization"] == "Bearer rec-secret-789"


def test_an_unlisted_host_that_wants_the_credential_says_why_it_did_not_get_it(client, downloading, two_hosts):
    listed, unlisted = two_hosts
    with_bearer_for(downloading, f"127.0.0.1:{listed.port}")
    unlisted.route("GET", "/rec.wav", status=401)

    recording = call_with_recording(client, downloading, unlisted.url("/rec.wav"))

    assert "HTTP 401" in recording.last_error and "recordings.auth.hosts" in recording.last_error
    assert credentials_seen(unlisted) == []


def test_the_proxy_sends_the_credential_only_to_the_listed_host(
    client, make_channel, two_hosts, settings, django_user_model
):
    from .panel_helpers import make_dialog, wav_tone

    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    listed, unlisted = two_hosts
    channel = make_channel("generic")
    with_bearer_for(channel, f"127.0.0.1:{listed.port}")
    for server in two_hosts:
        server.route("GET", "/rec.wav", body=wav_tone(seconds=1), headers={"Content-Type": "audio/wav"})
    staff = django_user_model.objects.create_user("root", "root@example.com", "pw-root-123", is_staff=True)
    client.force_login(staff)

    for n, server in enumerate(two_hosts):
        dialog = make_dialog(channel, f"c-{n}", recording_url=server.url("/rec.wav"))
        assert client.get(f"/panel/dialogs/{dialog.pk}/recording/").status_code == 200

    assert listed.requests[0].headers["Authorization"] == "Bearer rec-secret-789"
    assert len(unlisted.requests) == 1 and credentials_seen(unlisted) == []


def test_a_trick_url_naming_the_listed_host_never_gets_the_credential_anywhere(client, downloading, two_hosts):
    listed, unlisted = two_hosts
    with_bearer_for(downloading, f"127.0.0.1:{listed.port}")

    recording = call_with_recording(
        client, downloading, f"http://127.0.0.1:{unlisted.port}\\@127.0.0.1:{listed.port}/rec.wav"
    )

    assert recording.state == "failed"
    assert listed.connections == 0 and unlisted.connections == 0


def test_a_credential_without_hosts_is_refused_when_the_config_is_saved(make_channel):
    from django.core.exceptions import ValidationError

    channel = make_channel("generic")
    channel.advanced_config["recordings"]["auth"] = {"type": "bearer"}

    with pytest.raises(ValidationError, match="hosts"):
        channel.full_clean()
    channel.advanced_config["recordings"]["auth"] = {"type": "bearer", "hosts": ["127.0.0.1:{port}\\@evil"]}
    with pytest.raises(ValidationError, match="hosts"):
        channel.full_clean()


def test_trick_recording_urls_never_reach_the_local_server_through_the_download(
    client, downloading, http_server, settings
):
    from .url_tricks import ALLOWED, trick_urls

    settings.RECORDINGS_ALLOWED_HOSTS = [ALLOWED]
    post_event(client, downloading, {**fixture("generic_call.json"), "recording_url": "https://rec.example/x.wav"})
    process_all()
    recording = Recording.objects.get()

    for url in trick_urls(http_server.port):
        Recording.objects.filter(pk=recording.pk).update(source_url=url[:2000], state="pending")
        assert download_recording(recording.pk) == "refused", url

    assert http_server.connections == 0
