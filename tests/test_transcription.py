"""Transcripts: from the provider (also after the call), or made here by an engine on real audio."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from actions.models import Action
from dialogs.models import Dialog
from recordings.engines import LocalWhisperEngine
from recordings.models import Transcript
from recordings.pipeline import queue_due_transcriptions
from recordings.tasks import transcribe_dialog

from .audio_helpers import spoken, telephone_clips, word_error_rate
from .conftest import fixture, post_event, process_all, run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_local_engine_transcribes_real_telephone_speech_within_15_percent_wer(tmp_path):
    clips = telephone_clips(tmp_path)
    engine = LocalWhisperEngine()

    hypotheses = [engine.transcribe(str(path)).text for path, _ in clips]

    rate = word_error_rate([reference for _, reference in clips], hypotheses)
    assert rate <= 0.15, (rate, hypotheses)


@pytest.fixture
def transcribing(make_channel, operator, settings, tmp_path):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    channel = make_channel("generic", auto_transcription=True)
    channel.advanced_config["recordings"] = {"enabled": True, "download": True}
    channel.advanced_config["transcription"] = {"enabled": False}
    channel.save()
    return channel


def call_with_speech(client, channel, http_server, tmp_path, text, kind="wav", rate=16000, words_per_minute=150):
    audio = spoken(text, tmp_path, "speech", rate, kind, words_per_minute).read_bytes()
    http_server.route(
        "GET", f"/call.{kind}", body=audio, headers={"Content-Type": "audio/mpeg" if kind == "mp3" else "audio/wav"}
    )
    post_event(client, channel, {**fixture("generic_call.json"), "recording_url": http_server.url(f"/call.{kind}")})
    process_all()
    run_queued_tasks()
    return Dialog.objects.get(), audio


def test_auto_transcription_runs_once_the_operator_is_known_and_the_recording_is_downloaded(
    client, transcribing, http_server, tmp_path, django_user_model
):
    dialog, _ = call_with_speech(
        client,
        transcribing,
        http_server,
        tmp_path,
        "Hello, I would like to check the status of my order.",
        kind="mp3",
        rate=16000,
        words_per_minute=130,
    )  # espeak's fast speech over MP3 is too much for tiny.en

    transcript = Transcript.objects.get()
    assert (transcript.source, transcript.engine, transcript.language) == ("auto", "faster-whisper", "en")
    assert transcript.seconds > 0
    heard = set(dialog.transcript.lower().replace(".", "").replace(",", "").split())
    assert len({"hello", "like", "check", "status", "order"} & heard) >= 3, dialog.transcript  # quality: the WER test
    assert not dialog.awaiting_transcription
    staff = django_user_model.objects.create_user("root", "root@example.com", "pw-root-123", is_staff=True)
    client.force_login(staff)
    assert "Transcribed by faster-whisper (en)" in client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()


def test_the_http_engine_calls_an_openai_compatible_server(client, transcribing, http_server, tmp_path, settings):
    settings.TRANSCRIPTION_ENGINE = "openai"
    settings.TRANSCRIPTION_API_URL = http_server.url("")
    settings.TRANSCRIPTION_API_KEY = "sk-test-123"
    http_server.route(
        "POST",
        "/v1/audio/transcriptions",
        json={
            "text": "Hello from the server.",
            "language": "english",
            "segments": [{"start": 0.0, "end": 1.5, "text": " Hello from the server."}],
        },
    )

    dialog, audio = call_with_speech(client, transcribing, http_server, tmp_path, "Hello from the server.")

    assert dialog.transcript == "Hello from the server."
    transcript = Transcript.objects.get()
    assert (transcript.engine, transcript.segments[0]["end"]) == ("openai-compatible", 1.5)
    upload = next(r for r in http_server.requests if r.path == "/v1/audio/transcriptions")
    assert upload.headers["Authorization"] == "Bearer sk-test-123"
    assert audio in upload.body and b'name="model"' in upload.body


def test_a_failing_engine_is_a_service_message(client, transcribing, http_server, tmp_path, settings):
    settings.TRANSCRIPTION_ENGINE = "openai"
    settings.TRANSCRIPTION_API_URL = http_server.url("/broken")
    http_server.route("POST", "/broken/v1/audio/transcriptions", status=400, body="unsupported file")

    dialog, _ = call_with_speech(client, transcribing, http_server, tmp_path, "Anyone there?")

    assert dialog.messages.filter(
        text__startswith="transcription failed: the transcription server answered HTTP 400"
    ).exists()
    assert not Transcript.objects.exists() and not dialog.awaiting_transcription


def test_a_briefly_failing_server_is_tried_again_by_the_sweep(client, transcribing, http_server, tmp_path, settings):
    settings.TRANSCRIPTION_ENGINE = "openai"
    settings.TRANSCRIPTION_API_URL = http_server.url("")
    http_server.route(
        "POST", "/v1/audio/transcriptions", status=[503, 200], json={"text": "Hello there.", "language": "en"}
    )

    dialog, _ = call_with_speech(client, transcribing, http_server, tmp_path, "Hello there.")

    assert dialog.awaiting_transcription and not Transcript.objects.exists()
    assert dialog.messages.filter(text__startswith="transcription attempt 1 failed").exists()
    assert queue_due_transcriptions() == 0, "not before its retry time"
    Dialog.objects.filter(pk=dialog.pk).update(transcription_claimed_until=timezone.now())
    assert queue_due_transcriptions() == 1
    run_queued_tasks()

    dialog.refresh_from_db()
    assert dialog.transcript == "Hello there." and not dialog.awaiting_transcription
    assert dialog.transcription_attempts == 2


def test_a_transcription_task_delivered_twice_transcribes_once(client, transcribing, http_server, tmp_path, settings):
    settings.TRANSCRIPTION_ENGINE = "openai"
    settings.TRANSCRIPTION_API_URL = http_server.url("")
    http_server.route("POST", "/v1/audio/transcriptions", json={"text": "Once.", "language": "en"})
    audio = spoken("Once.", tmp_path, "speech", 16000).read_bytes()
    http_server.route("GET", "/call.wav", body=audio, headers={"Content-Type": "audio/wav"})
    post_event(client, transcribing, {**fixture("generic_call.json"), "recording_url": http_server.url("/call.wav")})
    process_all()
    run_queued_tasks()  # downloads the recording and transcribes once
    dialog = Dialog.objects.get()
    assert dialog.transcript == "Once."

    Dialog.objects.filter(pk=dialog.pk).update(
        awaiting_transcription=True, transcription_claimed_until=timezone.now() + timedelta(minutes=5)
    )
    assert transcribe_dialog(dialog.pk) == "not awaited, or another task has it", "another task holds the lease"
    transcriptions = [request for request in http_server.requests if request.path == "/v1/audio/transcriptions"]
    assert len(transcriptions) == 1

    Dialog.objects.filter(pk=dialog.pk).update(transcription_claimed_until=timezone.now() - timedelta(seconds=1))
    assert transcribe_dialog(dialog.pk) == "transcribed", "a lease whose task died runs out"


def test_skip_never_transcribes(client, transcribing, http_server, tmp_path, settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/crm", status=500)
    transcribing.enrich_action = Action.objects.create(
        name="CRM", kind="http", parameters={"method": "POST", "url": http_server.url("/crm"), "retries": 0}
    )
    transcribing.enrich_error_action = "skip"
    transcribing.save()

    dialog, _ = call_with_speech(client, transcribing, http_server, tmp_path, "Please do not transcribe me.")

    assert dialog.enrichment_state == "failed" and dialog.operator is None
    assert not dialog.awaiting_transcription and not Transcript.objects.exists() and dialog.transcript == ""


def test_a_provider_transcript_arriving_after_the_call_attaches_to_it_with_its_speaker_turns(
    client, make_channel, django_user_model
):
    channel = make_channel("setera")
    channel.advanced_config["field_mapping"]["transcript_text"] = "transcription.chunks"
    channel.advanced_config["transcription"] = {"enabled": True, "source": "provider"}
    channel.save()
    for event in fixture("setera_incoming.json"):
        post_event(client, channel, event)
    process_all()
    late = {
        "call_id": "tvNAazZlEwDZTCO74Pk95Q",
        "type": "call:transcription:completed",
        "transcription": {
            "chunks": [
                {"speaker": "Operator", "start": 0.5, "end": 2.0, "text": "Good morning, how can I help?"},
                {"speaker": "Customer", "start": 2.4, "end": 4.0, "text": "My order has not arrived."},
            ]
        },
    }
    post_event(client, channel, late)
    process_all()

    dialog = Dialog.objects.get()
    assert dialog.transcript == "Operator: Good morning, how can I help?\nCustomer: My order has not arrived."
    assert dialog.status == "answered", "the late event does not change the call"
    transcript = Transcript.objects.get()
    assert transcript.source == "provider" and [t["speaker"] for t in transcript.segments] == ["Operator", "Customer"]
    staff = django_user_model.objects.create_user("root", "root@example.com", "pw-root-123", is_staff=True)
    client.force_login(staff)
    html = client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()
    assert "<strong>Customer</strong>" in html and "My order has not arrived." in html
    assert json.dumps(transcript.segments)


@pytest.fixture
def enriched_and_downloaded(client, transcribing, http_server, tmp_path, settings):
    """A call whose enrichment and recording download are both still to run, the transcription server
    ready; the tests run the two tasks in the order they want."""
    from actions.enrichment import enrich_dialog  # noqa: F401  (the task the tests run)
    from recordings.models import Recording

    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.TRANSCRIPTION_ENGINE = "openai"
    settings.TRANSCRIPTION_API_URL = http_server.url("")
    http_server.route(
        "POST", "/v1/audio/transcriptions", json={"text": "Hello there.", "language": "en", "segments": []}
    )
    http_server.route("POST", "/crm", json={"manager": {"email": "operator@example.com"}})
    http_server.route(
        "GET",
        "/call.wav",
        body=spoken("Hello there.", tmp_path, "hello").read_bytes(),
        headers={"Content-Type": "audio/wav"},
    )
    transcribing.enrich_action = Action.objects.create(
        name="CRM",
        kind="http",
        parameters={
            "method": "POST",
            "url": http_server.url("/crm"),
            "retries": 0,
            "outputs": {"operator_email": "manager.email"},
        },
    )
    transcribing.save()
    post_event(client, transcribing, {**fixture("generic_call.json"), "recording_url": http_server.url("/call.wav")})
    process_all()
    clear_queued_tasks()
    dialog = Dialog.objects.get()
    assert dialog.enrichment_state == "pending" and Recording.objects.get().state == "pending"
    return dialog, Recording.objects.get()


def clear_queued_tasks():
    from django_q.brokers import get_broker

    get_broker().purge_queue()


def queued_functions():
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker, functions = get_broker(), []
    while tasks := broker.dequeue():
        for ack_id, payload in tasks:
            functions.append(SignedPackage.loads(payload)["func"])
            broker.acknowledge(ack_id)
    return functions


def test_enrichment_finishing_during_the_download_still_queues_the_transcription(enriched_and_downloaded, http_server):
    """The download started before enrichment committed and ends after it: the download queues it."""
    import threading

    from django.db import connection

    from actions.enrichment import enrich_dialog
    from recordings.tasks import download_recording

    dialog, recording = enriched_and_downloaded
    http_server.gates["/call.wav"] = gate = threading.Event()
    results = []

    def download():
        try:
            results.append(download_recording(recording.pk))
        finally:
            connection.close()

    downloading = threading.Thread(target=download)
    downloading.start()
    wait_for(lambda: any(r.path == "/call.wav" for r in http_server.requests))
    assert enrich_dialog(dialog.pk) == "success"
    assert "recordings.tasks.transcribe_dialog" not in queued_functions(), "the recording is not there yet"
    gate.set()
    downloading.join(30)

    assert results == ["downloaded"]
    assert queued_functions() == ["recordings.tasks.transcribe_dialog"], "queued at once, not by the sweep"


def test_a_download_finishing_before_enrichment_lets_enrichment_queue_the_transcription(enriched_and_downloaded):
    from actions.enrichment import enrich_dialog
    from recordings.tasks import download_recording

    dialog, recording = enriched_and_downloaded

    assert download_recording(recording.pk) == "downloaded"
    assert queued_functions() == [], "nobody awaits a transcription yet"
    assert enrich_dialog(dialog.pk) == "success"

    assert queued_functions() == ["recordings.tasks.transcribe_dialog"]
    transcribe_dialog(dialog.pk)
    assert Dialog.objects.get().transcript == "Hello there."


def wait_for(condition, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "route, reason",
    [
        ({"body": "<html>no</html>", "headers": {"Content-Type": "text/html"}}, "its host sent text/html, not audio"),
        (
            {"body": b"RIFF" + b"0" * 100, "headers": {"Content-Type": "audio/wav"}},
            "the file is not WAV, MP3, OGG/Opus or M4A audio",
        ),
    ],
)
def test_a_refused_recording_says_on_the_panel_that_no_transcription_will_come_and_why(
    client, transcribing, http_server, route, reason, django_user_model
):
    http_server.route("GET", "/call.wav", **route)
    post_event(client, transcribing, {**fixture("generic_call.json"), "recording_url": http_server.url("/call.wav")})
    process_all()
    run_queued_tasks()
    staff = django_user_model.objects.create_user("root", "root@example.com", "pw-root-123", is_staff=True)
    client.force_login(staff)

    html = client.get(f"/panel/dialogs/{Dialog.objects.get().pk}/").content.decode()

    assert "Transcription is on its way" not in html
    assert "There will be no transcription" in html and reason in html


def test_trick_transcription_server_urls_never_reach_the_local_server(transcribing, http_server, settings, tmp_path):
    from recordings.engines import OpenAICompatibleEngine

    from .url_tricks import trick_urls

    settings.TRANSCRIPTION_ENGINE = "openai"
    audio = spoken("Hello.", tmp_path, "hello")
    # The configured server's host is trusted (the operator named it), so the tricks are those that read
    # as one host and would connect to another, and the schemes that are not http(s).
    tricks = [
        url
        for url in trick_urls(http_server.port)
        if "#@" not in url
        and "?@" not in url
        and ("@" in url or "\\" in url or url != url.strip() or "\t" in url or not url.lower().startswith("http://"))
    ]
    assert len(tricks) > 100
    for url in tricks:
        settings.TRANSCRIPTION_API_URL = url.removesuffix("/x")
        with pytest.raises(Exception):
            OpenAICompatibleEngine().transcribe(str(audio))
    assert http_server.connections == 0
