"""Whatever a query string holds, the panel and the API answer: the panel ignores a bad filter and says so,
the API answers 400 naming it. Never a 500."""

from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from .panel_helpers import make_dialog

FILTERS = [
    "bot",
    "channel",
    "direction",
    "status",
    "operator",
    "topic",
    "from",
    "to",
    "recording",
    "test",
    "q",
    "after",
    "newer_than",
    "page",
]

BAD_VALUES = [
    ("from", "2026-02-30"),
    ("to", "2026-13-01"),
    ("from", "2026-1-1x"),
    ("after", "2026-02-30T10:00:00+00:00~5"),
    ("after", "2026-01-01T10:00:00+00:00~99999999999999999999999"),
    ("after", "garbage"),
    ("topic", "\x00"),
    ("status", "answered\x00"),
    ("direction", "\x00in"),
    ("q", "050\x00123"),
    ("channel", "²"),
    ("channel", "99999999999999999999999"),
    ("bot", "١٢"),
    ("operator", "99999999999999999999999"),
    ("recording", "\x00"),
    ("test", "1\x00"),
]


@pytest.fixture
def calls(office):
    make_dialog(office["kyiv"], "sales-1", minutes_ago=1)
    make_dialog(office["helsinki"], "support-1", minutes_ago=2)


@pytest.fixture
def panel_as(office):
    def logged_in(name):
        client = Client()
        client.force_login(office[name])
        return client

    return logged_in


def api_as(user):
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


@pytest.mark.parametrize("name, value", BAD_VALUES)
def test_the_panel_ignores_a_bad_filter_and_says_so(panel_as, calls, name, value):
    response = panel_as("olena").get("/panel/", {name: value})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="filter-problems"' in html and "ignored" in html
    assert [row.call_id for row in response.context["rows"]] == ["sales-1"]


@pytest.mark.parametrize("name, value", BAD_VALUES)
def test_the_api_answers_400_naming_the_bad_filter(office, calls, name, value):
    response = api_as(office["olena"]).get("/api/dialogs/", {name: value})

    assert response.status_code == 400
    assert name in response.json()


def test_a_good_filter_beside_a_bad_one_still_applies_in_the_panel(panel_as, calls, office):
    response = panel_as("root").get("/panel/", {"channel": office["helsinki"].pk, "from": "2026-02-30"})

    assert [row.call_id for row in response.context["rows"]] == ["support-1"]
    assert "From" in response.content.decode()


def test_new_rows_ignore_a_bad_cursor(panel_as, calls):
    assert panel_as("olena").get("/panel/new-rows/", {"newer_than": "2026-02-30T00:00:00~1"}).status_code == 200


def test_an_unknown_status_is_still_ignored_in_the_api_as_documented(office, calls):
    response = api_as(office["olena"]).get("/api/dialogs/", {"status": "not-a-status"})
    assert response.status_code == 200 and [row["call_id"] for row in response.json()["results"]] == ["sales-1"]


# Arbitrary query strings: any key (often a filter's), any value, percent-encoded any way.
values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "2026-02-30",
            "2026-13-01",
            "0001-01-01",
            "9999-12-31",
            "~",
            "~1",
            "-1",
            "1e9",
            "²",
            "\x00",
            "9" * 30,
            "2026-01-01T00:00:00~1",
            "9999-12-31T23:59:59-14:00~1",
            "me",
            "none",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)
pairs = st.lists(st.tuples(st.one_of(st.sampled_from(FILTERS), st.text(max_size=8)), values), max_size=6)


def query_string(items, raw):
    encoded = urlencode(items)
    return encoded + ("&" + quote(raw, safe="=&%") if raw else "")


@pytest.mark.parametrize("who", ["root", "olena"])
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(items=pairs, raw=st.text(max_size=20))
def test_no_query_string_makes_the_panel_or_the_api_fail(office, calls, who, items, raw):
    query = query_string(items, raw)
    panel = Client()
    panel.force_login(office[who])

    for client, path in ((panel, "/panel/"), (panel, "/panel/new-rows/"), (api_as(office[who]), "/api/dialogs/")):
        response = client.get(f"{path}?{query}")
        assert response.status_code in (200, 400), (path, query, response.status_code)
        if path == "/api/dialogs/" and response.status_code == 400:
            assert set(response.json()) <= set(FILTERS), response.json()
