"""The webhook endpoint: who may deliver, what is stored, and what the provider is told."""

import base64
import json

import pytest

from channels_app.models import RawEvent
from dialogs.models import Dialog

from .conftest import database_down, fixture, post_event, webhook_path

pytestmark = pytest.mark.django_db


def test_it_stores_the_delivery_and_answers_202_with_the_event_id(client, generic):
    response = post_event(client, generic, fixture("generic_call.json"), HTTP_USER_AGENT="PBX/1.0")

    assert response.status_code == 202
    event = RawEvent.objects.get()
    assert response.json() == {"status": "accepted", "event_id": event.pk}
    assert json.loads(bytes(event.body)) == fixture("generic_call.json")
    assert event.state == RawEvent.State.RECEIVED
    assert event.content_type == "application/json"
    assert event.available_at is not None
    assert not Dialog.objects.exists(), "mapping happens in the worker, not in the request"


@pytest.mark.parametrize(
    "how",
    ["query", "header", "bearer", "basic"],
)
def test_it_accepts_the_token_in_every_documented_place(client, generic, how):
    path, headers = webhook_path(generic, token=False), {}
    if how == "query":
        path = webhook_path(generic)
    elif how == "header":
        headers["X-Webhook-Token"] = generic.token
    elif how == "bearer":
        headers["Authorization"] = f"Bearer {generic.token}"
    else:
        headers["Authorization"] = "Basic " + base64.b64encode(f"phonon:{generic.token}".encode()).decode()

    response = client.post(
        path, data=json.dumps(fixture("generic_call.json")), content_type="application/json", headers=headers
    )

    assert response.status_code == 202


@pytest.mark.parametrize(
    "headers, query",
    [
        ({}, False),
        ({}, "wrong"),
        ({"X-Webhook-Token": "wrong"}, False),
        ({"Authorization": "Bearer wrong"}, False),
        ({"Authorization": "Basic " + base64.b64encode(b"user:wrong").decode()}, False),
        ({"Authorization": "Basic %%%not-base64"}, False),
    ],
)
def test_a_missing_or_wrong_token_is_401_and_nothing_is_stored(client, generic, headers, query):
    path = webhook_path(generic, token=query)
    response = client.post(
        path, data=json.dumps(fixture("generic_call.json")), content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong webhook token"}
    assert not RawEvent.objects.exists()


def test_another_channels_token_is_refused(client, make_channel):
    first, second = make_channel(name="A"), make_channel(name="B")

    response = post_event(client, first, fixture("generic_call.json"), token=second.token)

    assert response.status_code == 401


def test_a_regenerated_token_replaces_the_old_one(client, generic):
    old = generic.token
    generic.regenerate_token()

    assert post_event(client, generic, fixture("generic_call.json"), token=old).status_code == 401
    assert post_event(client, generic, fixture("generic_call.json")).status_code == 202


def test_an_unknown_channel_is_404(client, generic):
    response = client.post(
        "/webhooks/telephony/00000000-0000-4000-8000-000000000000/?token=x", data="{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert not RawEvent.objects.exists()


def test_only_post_is_accepted(client, generic):
    assert client.get(webhook_path(generic)).status_code == 405


def test_an_inactive_channel_refuses_with_a_clear_message_and_logs_the_attempt(client, generic):
    generic.is_active = False
    generic.save()

    response = post_event(client, generic, fixture("generic_call.json"))

    assert response.status_code == 403
    assert "inactive" in response.json()["error"]
    event = RawEvent.objects.get()
    assert event.state == RawEvent.State.REJECTED and event.available_at is None


def test_a_body_over_one_mebibyte_is_413_and_not_stored(client, generic):
    payload = {"call_id": "big", "padding": "x" * (1024 * 1024)}

    response = post_event(client, generic, payload)

    assert response.status_code == 413
    assert not RawEvent.objects.exists()


@pytest.mark.parametrize(
    "body, content_type, problem",
    [
        ("{not json", "application/json", "invalid JSON"),
        ("[1, 2]", "application/json", "must be an object or a non-empty array of objects"),
        ("[]", "application/json", "must be an object or a non-empty array of objects"),
        ('"just a string"', "application/json", "must be an object"),
        ("", "application/json", "body is empty"),
        (b"\xff\xfe{}", "application/json", "not valid UTF-8"),
        ('{"a": 1}', "application/json; charset=latin-1", "unsupported charset"),
        ("[" * 100000 + "]" * 100000, "application/json", "nested too deeply"),
        ("a=1&&b", "application/x-www-form-urlencoded", "invalid form body"),
        ("&".join(f"k{i}=v" for i in range(1001)), "application/x-www-form-urlencoded", "invalid form body"),
    ],
)
def test_an_unparseable_body_is_400_naming_the_problem_and_logged_as_rejected(
    client, generic, body, content_type, problem
):
    response = post_event(client, generic, body, content_type=content_type)

    assert response.status_code == 400
    assert problem in response.json()["error"]
    event = RawEvent.objects.get(pk=response.json()["event_id"])
    assert event.state == RawEvent.State.REJECTED
    assert problem in event.error
    assert event.available_at is None, "a rejected delivery is not queued"


def test_credentials_are_not_kept_in_the_event_log(client, generic):
    post_event(
        client,
        generic,
        fixture("generic_call.json"),
        token=False,
        Authorization=f"Bearer {generic.token}",
        Cookie="sessionid=abc",
        X_Request_Id="r-1",
    )

    headers = RawEvent.objects.get().headers
    assert headers.get("X-Request-Id") == "r-1"
    assert generic.token not in json.dumps(headers)
    assert not {"Authorization", "Cookie"} & set(headers)


def test_the_database_being_down_is_503_so_the_provider_retries(client, generic, settings):
    with database_down():
        response = post_event(client, generic, fixture("generic_call.json"))

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "retry later" in response.json()["error"]


def test_webhooks_need_no_csrf_token(generic):
    from django.test import Client

    response = post_event(Client(enforce_csrf_checks=True), generic, fixture("generic_call.json"))

    assert response.status_code == 202


def test_a_charset_that_is_no_text_encoding_is_refused_before_django_parses_anything(generic):
    from io import BytesIO
    from wsgiref.util import setup_testing_defaults

    from connective.wsgi import application

    body = b'{"a": 1}'
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": webhook_path(generic, token=False),
        "QUERY_STRING": f"token={generic.token}",
        "CONTENT_TYPE": "application/json; charset=bz2_codec",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": BytesIO(body),
    }
    setup_testing_defaults(environ)
    started = []

    answer = b"".join(application(environ, lambda status, headers: started.append(status)))

    assert started == ["400 Bad Request"]
    assert "unsupported charset 'bz2_codec'" in json.loads(answer)["error"]
    assert not RawEvent.objects.exists()
