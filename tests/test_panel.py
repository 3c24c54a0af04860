"""The operator panel: who sees what, the history's filters and pages, the recording, the transcript."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from dialogs.models import Dialog, FeedMessage

from .conftest import fixture, post_event, process_all
from .panel_helpers import make_dialog, wav_tone


@pytest.fixture
def olena_client(client, office):
    client.force_login(office["olena"])
    return client


def listed(response):
    return [row.call_id for row in response.context["rows"]]


def test_anonymous_users_go_to_the_login_page(client, office):
    response = client.get("/panel/")
    assert response.status_code == 302 and response["Location"].startswith("/panel/login/?next=/panel/")
    assert client.get("/").headers["Location"] == "/panel/"


def test_an_operator_logs_in_and_out(client, office):
    response = client.post("/panel/login/", {"username": "olena", "password": "pw-olena-123"})
    assert response.status_code == 302 and response["Location"] == "/panel/"
    assert client.get("/panel/").status_code == 200
    client.post("/panel/logout/")
    assert client.get("/panel/").status_code == 302


def test_an_operator_sees_only_the_dialogs_of_their_bots_and_staff_see_all(client, olena_client, office):
    mine = make_dialog(office["kyiv"], "sales-1")
    theirs = make_dialog(office["helsinki"], "support-1", recording_url="https://rec.example/a.wav")

    assert listed(olena_client.get("/panel/")) == ["sales-1"]
    for url in (f"/panel/dialogs/{theirs.pk}/", f"/panel/dialogs/{theirs.pk}/recording/", f"/api/dialogs/{theirs.pk}/"):
        assert olena_client.get(url).status_code == 404, url
    assert olena_client.get(f"/panel/dialogs/{mine.pk}/").status_code == 200

    client.force_login(office["root"])
    assert sorted(listed(client.get("/panel/"))) == ["sales-1", "support-1"]


def test_incomplete_or_unenriched_dialogs_are_not_shown_yet(olena_client, office):
    make_dialog(office["kyiv"], "waiting", ready_at=None)
    assert listed(olena_client.get("/panel/")) == []


def test_history_is_newest_first_with_the_customers_number(olena_client, office):
    make_dialog(office["kyiv"], "older", minutes_ago=10)
    make_dialog(office["kyiv"], "newer", minutes_ago=1, direction="out", callee_number="+380671112233")

    response = olena_client.get("/panel/")

    assert listed(response) == ["newer", "older"]
    html = response.content.decode()
    assert "+380671112233" in html, "the callee is the customer of an outgoing call"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("direction=out", ["out-1"]),
        ("status=missed", ["missed-1"]),
        ("topic=online", ["topic-1"]),
        ("operator=me", ["mine-1"]),
        ("recording=1", ["rec-1"]),
        ("test=1", ["out-1", "missed-1", "topic-1", "mine-1", "rec-1", "test-1", "plain-1"]),
        ("q=067+111+22+33", ["out-1"]),
        ("q=0671112233", ["out-1"]),
        ("q=2233", ["out-1"]),
        ("q=%2B380%2067%20111", ["out-1"]),
        ("q=999999", []),
    ],
)
def test_the_history_filters(olena_client, office, query, expected):
    kyiv = office["kyiv"]
    make_dialog(kyiv, "plain-1", minutes_ago=7)
    make_dialog(kyiv, "test-1", minutes_ago=6, is_test=True)
    make_dialog(kyiv, "rec-1", minutes_ago=5, recording_url="https://rec.example/r.wav")
    make_dialog(kyiv, "mine-1", minutes_ago=4, operator=office["olena"])
    make_dialog(kyiv, "topic-1", minutes_ago=3, topic=office["topic"])
    make_dialog(kyiv, "missed-1", minutes_ago=2, status="missed")
    make_dialog(kyiv, "out-1", minutes_ago=1, direction="out", callee_number="+380671112233")

    assert listed(olena_client.get(f"/panel/?{query}")) == expected


def test_the_date_range_filter(olena_client, office):
    make_dialog(office["kyiv"], "today")
    make_dialog(office["kyiv"], "last-week", minutes_ago=7 * 24 * 60)
    today = timezone.localdate().isoformat()
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()

    assert listed(olena_client.get(f"/panel/?from={today}")) == ["today"]
    assert listed(olena_client.get(f"/panel/?to={week_ago}")) == ["last-week"]


def test_the_history_pages_by_cursor_without_gaps_or_repeats(olena_client, office):
    for number in range(120):
        make_dialog(office["kyiv"], f"call-{number:03}", minutes_ago=number % 7)  # many share a start time

    seen, url = [], "/panel/"
    for _ in range(5):
        response = olena_client.get(url)
        seen += listed(response)
        if not response.context["next_cursor"]:
            break
        query = {"after": response.context["next_cursor"]}
        url = "/panel/?" + "&".join(filter(None, [response.context["filter_query"], urlencode(query)]))
    assert len(seen) == 120 and len(set(seen)) == 120


def test_new_calls_are_offered_to_the_open_list(olena_client, office):
    first = make_dialog(office["kyiv"], "first", minutes_ago=5)
    response = olena_client.get("/panel/")
    cursor = response.context["first_cursor"]
    second = make_dialog(office["kyiv"], "second", minutes_ago=1)

    rows = olena_client.get("/panel/new-rows/", {"newer_than": cursor})

    assert f'data-id="{second.pk}"' in rows.content.decode()
    assert f'data-id="{first.pk}"' not in rows.content.decode()
    assert rows.content.decode().count("<tr") == 1 and rows["X-First-Cursor"]


def test_the_dialog_page_shows_the_card_the_feed_and_an_escaped_transcript(olena_client, office):
    dialog = make_dialog(
        office["kyiv"], "c-1", transcript="<b>Hello</b> <script>alert(1)</script>\n" + "long words " * 500
    )
    FeedMessage.objects.create(
        dialog=dialog, key="enrichment-failed", text="enrichment failed: the answer is not valid JSON"
    )

    html = olena_client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "enrichment failed: the answer is not valid JSON" in html
    assert "+380501234567" in html and "Kyiv line" in html and "Sales" in html


def test_a_call_made_by_webhooks_shows_its_events_in_the_feed(client, olena_client, office):
    post_event(client, office["kyiv"], fixture("generic_call.json"))
    process_all()
    dialog = Dialog.objects.get()

    html = olena_client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()

    assert "answered" in html and "62 s" in html


def test_the_recording_is_proxied_with_range_support(olena_client, office, http_server, settings):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    audio = wav_tone(seconds=1)
    http_server.route("GET", "/rec.wav", body=audio, headers={"Content-Type": "audio/wav"}, ranges=True)
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=http_server.url("/rec.wav"))

    whole = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")
    part = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/", headers={"Range": "bytes=100-199"})

    assert whole.status_code == 200 and b"".join(whole.streaming_content) == audio
    assert whole["Content-Type"] == "audio/wav" and whole["Accept-Ranges"] == "bytes"
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(audio)}"
    assert b"".join(part.streaming_content) == audio[100:200]


def test_a_recording_on_a_private_address_is_refused(olena_client, office, http_server):
    http_server.route("GET", "/rec.wav", body=b"RIFF")
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=http_server.url("/rec.wav"))

    response = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")

    assert response.status_code == 502 and b"private or local address" in response.content
    assert http_server.requests == []


def test_a_missing_recording_says_so(olena_client, office, http_server, settings):
    settings.RECORDINGS_ALLOWED_HOSTS = ["127.0.0.1"]
    dialog = make_dialog(office["kyiv"], "c-1", recording_url=http_server.url("/gone.wav"))

    response = olena_client.get(f"/panel/dialogs/{dialog.pk}/recording/")

    assert response.status_code == 502 and b"its host answered HTTP 404" in response.content
    assert "could not be loaded" in olena_client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()


def test_a_channel_can_link_recordings_directly(olena_client, office):
    office["kyiv"].advanced_config["recordings"]["playback"] = "direct"
    office["kyiv"].save()
    dialog = make_dialog(office["kyiv"], "c-1", recording_url="https://rec.example/r.wav")

    assert 'src="https://rec.example/r.wav"' in olena_client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()
