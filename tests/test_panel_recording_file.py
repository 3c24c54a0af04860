"""A downloaded recording streamed from our storage, with HTTP Range so the player can seek."""

import pytest
from django.core.files.base import ContentFile

from recordings.models import Recording

from .panel_helpers import make_dialog, wav_tone


@pytest.fixture
def audio():
    return wav_tone(seconds=1)


@pytest.fixture
def stored(office, audio, settings, tmp_path):
    """A Kyiv call whose recording was downloaded into storage; the provider's URL no longer answers."""
    settings.MEDIA_ROOT = tmp_path
    dialog = make_dialog(office["kyiv"], "c-1", recording_url="https://rec.invalid/gone.wav")
    Recording.objects.create(
        dialog=dialog,
        source_url=dialog.recording_url,
        state=Recording.State.READY,
        content_type="audio/wav",
        size=len(audio),
        file=ContentFile(audio, name="c-1.wav"),
    )
    return dialog


@pytest.fixture
def olena_client(client, office):
    client.force_login(office["olena"])
    return client


def fetch(client, dialog, range_header=None):
    headers = {"Range": range_header} if range_header else {}
    return client.get(f"/panel/dialogs/{dialog.pk}/recording/", headers=headers)


def body_of(response):
    return b"".join(response.streaming_content)


def test_the_whole_file_is_served_from_storage_and_says_it_accepts_ranges(olena_client, stored, audio):
    response = fetch(olena_client, stored)

    assert response.status_code == 200 and body_of(response) == audio
    assert response["Content-Type"] == "audio/wav" and response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(audio))


@pytest.mark.parametrize(
    "range_header, first, last",
    [
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, None),  # open-ended: what a player asks for after seeking
        ("bytes=-50", -50, None),  # the last 50 bytes
        ("bytes=0-999999999", 0, None),  # past the end: cut to the file
    ],
)
def test_a_range_of_the_stored_file_is_answered_206(olena_client, stored, audio, range_header, first, last):
    response = fetch(olena_client, stored, range_header)

    expected = audio[first:] if last is None else audio[first : last + 1]
    start = first if first >= 0 else len(audio) + first
    assert response.status_code == 206 and body_of(response) == expected
    assert response["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(audio)}"
    assert response["Content-Length"] == str(len(expected))


def test_a_range_beyond_the_file_is_answered_416(olena_client, stored, audio):
    response = fetch(olena_client, stored, f"bytes={len(audio) + 10}-")

    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(audio)}"


def test_another_bots_operator_gets_404_for_the_stored_file(client, office, stored, django_user_model):
    stranger = django_user_model.objects.create_user("pekka", "pekka@example.com", "pw-pekka-123")
    office["support"].members.add(stranger)
    client.force_login(stranger)

    assert fetch(client, stored).status_code == 404
    assert fetch(client, stored, "bytes=0-99").status_code == 404


def test_anonymous_users_are_sent_to_log_in_instead_of_getting_the_file(client, stored):
    response = fetch(client, stored)

    assert response.status_code == 302 and "/panel/login/" in response["Location"]
