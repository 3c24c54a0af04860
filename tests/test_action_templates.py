"""Action templates against a real HTTP server on 127.0.0.1: whatever a call's data holds, each value
arrives as one value in its place (path segment, query value, header, JSON or form field), secrets stand
only in headers and the auth, and a template reads the call's own state and nothing else."""

import json
import unicodedata
from urllib.parse import parse_qs, unquote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from actions.models import Action, EnrichmentRun
from actions.templating import TemplateError, lookup

from .conftest import fixture, post_event, process_all, run_queued_tasks

FIXED_HEADERS = {"Host", "User-Agent", "Accept-Encoding", "Accept", "Connection", "Content-Type", "Content-Length"}
SLOW = hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def crm(http_server, settings):
    settings.ACTIONS_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/calls/anything", json={})
    return http_server


def hostile_action(server, body_format="json", **parameters):
    body = {"v": "{{ telephony.v }}", "fixed": 1} if body_format == "json" else {"v": "{{ telephony.v }}", "fixed": "1"}
    return Action(
        name="Hostile",
        kind="http",
        parameters={
            "method": "POST",
            "url": server.url("/calls/{{ telephony.v }}/notes?phone={{ telephony.v }}&fixed=1"),
            "query": {"q": "{{ telephony.v }}"},
            "headers": {"X-Value": "{{ telephony.v }}", "X-Fixed": "yes"},
            "body_format": body_format,
            "body": body,
            "timeout": 2,
            "retries": 0,
            **parameters,
        },
    )


def as_header(value):
    """What a header can carry of a value: no control characters, no surrounding spaces."""
    return "".join(c for c in value if unicodedata.category(c) != "Cc").strip(" ")


def assert_one_value_in_each_place(sent, value, body_format):
    path, _, query = sent.path.partition("?")
    segments = path.split("/")
    assert len(segments) == 4 and segments[:2] == ["", "calls"] and segments[3] == "notes", sent.path
    assert unquote(segments[2]) == value
    assert parse_qs(query, keep_blank_values=True, strict_parsing=bool(query)) == {
        "phone": [value],
        "fixed": ["1"],
        "q": [value],
    }
    assert set(sent.headers) == FIXED_HEADERS | {"X-Value", "X-Fixed"}
    assert unquote(sent.headers["X-Value"]) == as_header(value) and sent.headers["X-Fixed"] == "yes"
    if body_format == "json":
        assert json.loads(sent.body) == {"v": value, "fixed": 1}
    else:
        assert parse_qs(sent.body.decode("ascii"), keep_blank_values=True) == {"v": [value], "fixed": ["1"]}


@SLOW
@given(value=st.text(max_size=60).filter(lambda v: v not in (".", "..")), body_format=st.sampled_from(["json", "form"]))
def test_any_value_arrives_as_exactly_one_value_in_its_place(crm, value, body_format):
    crm.requests.clear()
    result = hostile_action(crm, body_format).run({"telephony": {"v": value}})

    assert len(crm.requests) == 1, result.error
    assert_one_value_in_each_place(crm.requests[0], value, body_format)


@pytest.mark.parametrize(
    "value", ["1&key=attacker#", "a/../../admin?x=1", "+380 50 123\r\nX-Injected: 1", 'Олена "Ко" <b>', "%2F%0d%0a"]
)
def test_the_reported_injections_arrive_as_one_value(crm, value):
    hostile_action(crm).run({"telephony": {"v": value}})

    assert len(crm.requests) == 1
    assert_one_value_in_each_place(crm.requests[0], value, "json")
    assert "X-Injected" not in crm.requests[0].headers


@pytest.mark.parametrize("value", [".", ".."])
def test_a_value_that_would_climb_the_path_is_refused_before_any_request(crm, value):
    result = hostile_action(crm).run({"telephony": {"v": value}})

    assert result.error == f"template: '{{{{ telephony.v }}}}' gives the path segment '{value}', which is refused"
    assert crm.requests == []


def test_a_lone_surrogate_from_a_payload_is_sent_as_a_replacement_character(crm):
    result = hostile_action(crm).run({"telephony": {"v": "a\ud800b"}})

    assert len(crm.requests) == 1, result.error
    assert_one_value_in_each_place(crm.requests[0], "a\ufffdb", "json")


def test_a_whole_placeholder_keeps_its_json_type_in_the_body(crm):
    action = hostile_action(
        crm, body={"payloads": "{{ payloads }}", "n": "{{ telephony.n }}", "{{ telephony.v }}": "key"}
    )

    action.run({"telephony": {"v": 'k"}', "n": 62}, "payloads": [{"a": [1, None]}]})

    assert crm.requests[0].json() == {"payloads": [{"a": [1, None]}], "n": 62, 'k"}': "key"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["https://{{ telephony.host }}/x", "https://crm.example{{ telephony.port }}/x", "{{ telephony.url }}"]
)
def test_the_scheme_and_host_cannot_come_from_a_placeholder(admin_client, url):
    response = admin_client.post(
        "/admin/actions/action/add/",
        {
            "name": "Anywhere",
            "description": "",
            "kind": "http",
            "new_secrets": "",
            "parameters": json.dumps({"url": url}),
        },
    )

    assert response.status_code == 200
    assert "url: " in response.content.decode()
    assert not Action.objects.exists()


# Secrets stand only in headers and the auth.


def form(parameters, secrets=""):
    return {
        "name": "CRM",
        "description": "",
        "kind": "http",
        "new_secrets": secrets,
        "parameters": json.dumps(parameters),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "where",
    [
        {"url": "https://crm.example/x?key={{ secrets.api_key }}"},
        {"url": "https://crm.example/{{ secrets.api_key }}"},
        {"url": "https://crm.example/x", "query": {"key": "{{ secrets.api_key }}"}},
        {"url": "https://crm.example/x", "body": {"echo": "{{ secrets }}"}},
        {"url": "https://crm.example/x", "body_format": "form", "body": {"key": "my {{ secrets.api_key }}"}},
    ],
)
def test_a_secret_outside_the_headers_is_refused_when_saved(admin_client, where):
    response = admin_client.post("/admin/actions/action/add/", form(where, '{"api_key": "k-123456"}'))

    html = response.content.decode()
    assert response.status_code == 200
    assert "secrets may stand only in headers and the auth, not in the URL, query or body" in html
    assert not Action.objects.exists()


@pytest.mark.django_db
def test_a_secret_in_a_header_is_saved_sent_and_masked_where_the_request_is_shown(admin_client, crm):
    parameters = {
        "method": "POST",
        "url": crm.url("/calls/anything"),
        "headers": {"X-Api-Key": "key {{ secrets.api_key }}"},
        "retries": 0,
    }
    admin_client.post("/admin/actions/action/add/", form(parameters, '{"api_key": "k/1%x"}'))
    action = Action.objects.get()

    html = admin_client.post(f"/admin/actions/action/{action.pk}/test/", {"state": "{}"}).content.decode()

    assert unquote(crm.requests[0].headers["X-Api-Key"]) == "key k/1%x"
    assert "Success" in html and "key ••••••" in html
    assert "k/1%x" not in html and "k/1%25x" not in html


@pytest.mark.parametrize(
    "where",
    [
        {"url": "{server}?key={{{{ secrets.api_key }}}}"},
        {"query": {"key": "{{ secrets.api_key }}"}},
        {"body": {"echo": "{{ secrets.api_key }}"}},
    ],
)
def test_a_secret_outside_the_headers_is_refused_at_run_time_and_nothing_is_sent(crm, where):
    """An action saved around the admin form (a data migration, a fixture, the shell)."""
    parameters = {"method": "POST", "url": crm.url("/calls/anything"), "retries": 0, **where}
    parameters["url"] = parameters["url"].format(server=crm.url("/calls/anything"))
    action = Action(name="Leaky", kind="http", parameters=parameters, secrets={"api_key": "k-123456"})

    result = action.run({"telephony": {}})

    assert "secrets may stand only in headers and the auth" in result.error
    assert crm.requests == []


def test_an_answer_that_echoes_a_secret_does_not_put_it_on_the_dialog(crm):
    crm.route("POST", "/calls/anything", json={"echo": "Bearer k-123456"})
    action = Action(
        name="Echo",
        kind="http",
        secrets={"token": "k-123456"},
        parameters={
            "method": "POST",
            "url": crm.url("/calls/anything"),
            "auth": {"type": "bearer"},
            "retries": 0,
            "outputs": {"said": "echo"},
        },
    )

    result = action.run({"telephony": {}})

    assert result.ok and result.outputs == {"said": "Bearer ••••••"}
    assert crm.requests[0].headers["Authorization"] == "Bearer k-123456"
    assert "k-123456" not in json.dumps(result.request) + result.response["body"]


# A template reads the call's own state, nothing else.

STATE = {
    "telephony": {"caller_number": "+380501234567", "tags": ["a", {"b": 1}]},
    "payloads": [{"x": 1}],
    "channel": {"id": 1, "name": "Main"},
    "bot": {"id": 1, "name": "Support"},
}


def values_in(node):
    yield node
    if isinstance(node, dict):
        for item in node.values():
            yield from values_in(item)
    elif isinstance(node, list):
        for item in node:
            yield from values_in(item)


@given(
    path=st.one_of(
        st.text(max_size=40),
        st.lists(
            st.sampled_from(
                [
                    "telephony",
                    "tags",
                    "0",
                    "1",
                    "-1",
                    "b",
                    "bot",
                    "channel",
                    "objects",
                    "dialogs",
                    "__class__",
                    "_meta",
                    "pk",
                    "all",
                    "name",
                ]
            ),
            min_size=1,
            max_size=5,
        ).map(".".join),
    )
)
def test_a_placeholder_gives_a_value_of_the_state_or_nothing(path):
    try:
        value = lookup(STATE, path)
    except TemplateError:
        return
    assert value == "" or any(value is node for node in values_in(STATE))


@pytest.mark.django_db(transaction=True)
def test_an_enrichment_sees_its_own_call_and_nothing_of_another_bots(client, make_channel, django_user_model, crm):
    from channels_app.models import Bot, TelephonyChannel

    other_bot = Bot.objects.create(name="Other tenant")
    other = TelephonyChannel.from_preset(other_bot, "Other line", "generic")
    post_event(client, other, {**fixture("generic_call.json"), "call_id": "other-call", "caller": "067 999 99 99"})
    ours = make_channel("generic")
    ours.enrich_action = Action.objects.create(
        name="Curious",
        kind="http",
        parameters={
            "method": "POST",
            "url": crm.url("/calls/anything"),
            "retries": 0,
            "body": {
                "everything": "{{ telephony }}",
                "payloads": "{{ payloads }}",
                "bot": "{{ bot }}",
                "channel": "{{ channel }}",
                "tries": [
                    "{{ bot.channels }}",
                    "{{ channel.dialogs }}",
                    "{{ channel.bot.members }}",
                    "{{ bot.objects.all }}",
                    "{{ payloads.1 }}",
                    "{{ telephony.channel }}",
                ],
            },
        },
    )
    ours.save()
    post_event(client, ours, fixture("generic_call.json"))
    process_all()
    run_queued_tasks()

    sent = crm.requests[0].json()
    assert sent["tries"] == ["", "", "", "", "", ""]
    assert sent["bot"] == {"id": ours.bot_id, "name": ours.bot.name}
    assert sent["everything"]["call_id"] == "c-1001" and sent["channel"]["id"] == ours.pk
    text = crm.requests[0].body.decode()
    assert "other-call" not in text and "679999999" not in text and "Other tenant" not in text
    assert EnrichmentRun.objects.get().outcome == "success"
