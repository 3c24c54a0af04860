"""The dialogs API: the panel's filters and permissions, token or session authentication, OpenAPI."""

import pytest
from rest_framework.authtoken.models import Token

from .panel_helpers import make_dialog


@pytest.fixture
def api(client, office):
    token = Token.objects.create(user=office["olena"])
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token.key}"
    return client


def ids(response):
    return [row["call_id"] for row in response.json()["results"]]


def test_the_api_needs_authentication(client, office):
    assert client.get("/api/dialogs/").status_code in (401, 403)


def test_a_token_sees_its_users_dialogs_only(api, office):
    make_dialog(office["kyiv"], "sales-1")
    other = make_dialog(office["helsinki"], "support-1")

    assert ids(api.get("/api/dialogs/")) == ["sales-1"]
    assert api.get(f"/api/dialogs/{other.pk}/").status_code == 404
    assert [c["name"] for c in api.get("/api/channels/").json()] == ["Kyiv line"]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"direction": "out"}, ["out-1"]),
        ({"status": "missed"}, ["missed-1"]),
        ({"operator": "me"}, ["mine-1"]),
        ({"topic": "online"}, ["topic-1"]),
        ({"recording": "0"}, ["out-1", "missed-1", "topic-1", "mine-1"]),
        ({"q": "0671112233"}, ["out-1"]),
        ({"channel": "0"}, []),
    ],
)
def test_every_filter_works_in_the_api(api, office, params, expected):
    kyiv = office["kyiv"]
    make_dialog(kyiv, "rec-1", minutes_ago=5, recording_url="https://rec.example/r.wav")
    make_dialog(kyiv, "mine-1", minutes_ago=4, operator=office["olena"])
    make_dialog(kyiv, "topic-1", minutes_ago=3, topic=office["topic"])
    make_dialog(kyiv, "missed-1", minutes_ago=2, status="missed")
    make_dialog(kyiv, "out-1", minutes_ago=1, direction="out", callee_number="+380671112233")

    assert ids(api.get("/api/dialogs/", params)) == expected


def test_the_api_pages_by_cursor(api, office):
    for number in range(60):
        make_dialog(office["kyiv"], f"call-{number}", minutes_ago=number)

    first = api.get("/api/dialogs/").json()
    second = api.get("/api/dialogs/", {"after": first["next"]}).json()

    assert len(first["results"]) == 50 and len(second["results"]) == 10 and second["next"] is None
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}


def test_the_detail_has_the_feed_recording_and_transcript(api, office):
    dialog = make_dialog(office["kyiv"], "c-1", recording_url="https://rec.example/r.wav", transcript="Hello")
    dialog.note("enrichment-failed", "enrichment failed: timeout")

    body = api.get(f"/api/dialogs/{dialog.pk}/").json()

    assert body["recording"] == f"/panel/dialogs/{dialog.pk}/recording/"
    assert body["transcript"] == "Hello" and body["customer_number"] == "+380501234567"
    assert body["feed"][0]["text"] == "enrichment failed: timeout"


def test_topics_are_listed(api, office):
    assert api.get("/api/topics/").json() == [{"id": office["topic"].pk, "alias": "online", "name": "Online orders"}]


def test_the_openapi_schema_describes_the_api_and_the_docs_page_is_served(client, office):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/dialogs/" in text and "/api/dialogs/{id}/" in text
    assert client.get("/api/docs/").status_code == 200
