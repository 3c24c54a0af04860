"""The dialogs API, filter by filter and permission by permission, as an API client sees it."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from .panel_helpers import make_dialog


def token_client(user):
    """An API client of its own, presenting the user's token."""
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


@pytest.fixture
def as_olena(office):
    return token_client(office["olena"])


@pytest.fixture
def as_root(office):
    return token_client(office["root"])


@pytest.fixture
def calls(office):
    """Seven shown calls on the Sales bot's Kyiv line, newest first as listed, and one on Support's line."""
    kyiv = office["kyiv"]
    make_dialog(kyiv, "old-1", minutes_ago=8 * 24 * 60)
    make_dialog(kyiv, "test-1", minutes_ago=6, is_test=True)
    make_dialog(kyiv, "rec-1", minutes_ago=5, recording_url="https://rec.example/r.wav")
    make_dialog(kyiv, "mine-1", minutes_ago=4, operator=office["olena"])
    make_dialog(kyiv, "root-1", minutes_ago=3, operator=office["root"], topic=office["topic"])
    make_dialog(kyiv, "missed-1", minutes_ago=2, status="missed")
    make_dialog(kyiv, "out-1", minutes_ago=1, direction="out", callee_number="+380671112233")
    make_dialog(office["helsinki"], "support-1", minutes_ago=0, caller_number="+358401234567")


def call_ids(client, **params):
    response = client.get("/api/dialogs/", params)
    assert response.status_code == 200, response.content
    return [row["call_id"] for row in response.json()["results"]]


SALES_CALLS = ["out-1", "missed-1", "root-1", "mine-1", "rec-1", "old-1"]


def test_without_filters_an_operator_gets_their_bots_shown_calls_newest_first_without_test_calls(as_olena, calls):
    assert call_ids(as_olena) == SALES_CALLS


def test_staff_get_every_bots_calls(as_root, calls):
    assert call_ids(as_root) == ["support-1"] + SALES_CALLS


@pytest.mark.parametrize(
    "filter_name, value, expected",
    [
        ("direction", "out", ["out-1"]),
        ("direction", "in", ["missed-1", "root-1", "mine-1", "rec-1", "old-1"]),
        ("status", "missed", ["missed-1"]),
        ("status", "not-a-status", SALES_CALLS),  # ignored, as the panel ignores it
        ("operator", "me", ["mine-1"]),
        ("operator", "none", ["out-1", "missed-1", "rec-1", "old-1"]),
        ("topic", "online", ["root-1"]),
        ("topic", "no-such-topic", []),
        ("recording", "1", ["rec-1"]),
        ("recording", "0", ["out-1", "missed-1", "root-1", "mine-1", "old-1"]),
        ("test", "1", ["out-1", "missed-1", "root-1", "mine-1", "rec-1", "test-1", "old-1"]),
        ("q", "067 111 22 33", ["out-1"]),  # local format, normalised with the channel's +380
        ("q", "+380 67 111", ["out-1"]),  # the start of an international number
        ("q", "1122", ["out-1"]),  # partial digits
        ("q", "+358401234567", []),  # another bot's caller is never found
        ("q", "no digits", []),
    ],
)
def test_each_filter_narrows_the_operators_list(as_olena, calls, filter_name, value, expected):
    assert call_ids(as_olena, **{filter_name: value}) == expected


def test_the_operator_filter_takes_a_user_id(as_olena, calls, office):
    assert call_ids(as_olena, operator=office["root"].pk) == ["root-1"]


def test_the_bot_and_channel_filters(as_root, as_olena, calls, office):
    assert call_ids(as_root, bot=office["support"].pk) == ["support-1"]
    assert call_ids(as_root, channel=office["kyiv"].pk) == SALES_CALLS
    assert call_ids(as_olena, bot=office["support"].pk) == [], "another bot's id reveals nothing"
    assert call_ids(as_olena, channel=office["helsinki"].pk) == []


def test_the_date_range_filters(as_olena, calls):
    today = timezone.localdate()
    assert call_ids(as_olena, **{"from": today.isoformat()}) == SALES_CALLS[:-1]
    assert call_ids(as_olena, to=(today - timedelta(days=8)).isoformat()) == ["old-1"]
    assert call_ids(as_olena, **{"from": "2001-01-01", "to": "2001-12-31"}) == []


def test_filters_combine(as_olena, calls):
    assert call_ids(as_olena, direction="in", operator="none", recording="0") == ["missed-1", "old-1"]


def test_the_channels_list_is_the_users_and_read_only(as_olena, as_root, office):
    assert [c["name"] for c in as_olena.get("/api/channels/").json()] == ["Kyiv line"]
    assert as_olena.post("/api/channels/", {"name": "mine now"}).status_code == 405


def test_staff_see_every_channel(as_root, office):
    assert sorted(c["name"] for c in as_root.get("/api/channels/").json()) == ["Helsinki line", "Kyiv line"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_dialogs_and_topics_are_read_only(as_olena, calls, office, method):
    dialog_id = as_olena.get("/api/dialogs/").json()["results"][0]["id"]
    assert getattr(as_olena, method)(f"/api/dialogs/{dialog_id}/", {}).status_code == 405
    assert getattr(as_olena, method)("/api/topics/", {}).status_code == 405


def test_an_operator_gets_404_for_another_bots_dialog_and_staff_get_it(as_olena, as_root, calls, office):
    support_call = office["helsinki"].dialogs.get()
    assert as_olena.get(f"/api/dialogs/{support_call.pk}/").status_code == 404
    assert as_root.get(f"/api/dialogs/{support_call.pk}/").json()["customer_number"] == "+358401234567"


def test_a_dialog_not_ready_yet_is_not_in_the_api(as_olena, office):
    waiting = make_dialog(office["kyiv"], "waiting", ready_at=None)

    assert call_ids(as_olena) == []
    assert as_olena.get(f"/api/dialogs/{waiting.pk}/").status_code == 404


def test_an_operator_of_no_bot_sees_nothing(calls, django_user_model):
    newcomer = django_user_model.objects.create_user("newcomer", "new@example.com", "pw-new-12345")
    client = token_client(newcomer)

    assert call_ids(client) == [] and client.get("/api/channels/").json() == []


@pytest.mark.parametrize("path", ["/api/dialogs/", "/api/dialogs/1/", "/api/topics/", "/api/channels/"])
def test_anonymous_clients_are_answered_401(client, calls, path):
    assert client.get(path).status_code == 401


def test_a_wrong_token_and_a_deactivated_users_token_are_answered_401_asking_for_a_token(as_olena, calls, office):
    wrong = Client(HTTP_AUTHORIZATION="Token not-a-token").get("/api/dialogs/")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == "Token"

    office["olena"].is_active = False
    office["olena"].save()
    assert as_olena.get("/api/dialogs/").status_code == 401


def test_a_logged_in_panel_session_can_read_the_api(client, calls, office):
    client.force_login(office["olena"])

    assert call_ids(client) == SALES_CALLS
