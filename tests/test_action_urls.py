"""An action's URL: only http(s) is accepted when it is saved, and no trick URL reaches an address the
administrator did not allow when it is called."""

import json

import pytest

from actions.forms import ActionForm
from actions.models import Action

from .url_tricks import ALLOWED, trick_urls

pytestmark = pytest.mark.django_db


def form_with_url(url):
    return ActionForm(
        data={
            "name": "CRM",
            "description": "",
            "kind": "http",
            "new_secrets": "",
            "parameters": json.dumps({"method": "GET", "url": url}),
        }
    )


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_GET",
        "ftp://crm.example/x",
        "dict://crm.example:11211/",
        "javascript:alert(1)",
        "FILE:///etc/passwd",
        "//crm.example/x",
        "crm.example/x",
        "{{ secrets.base }}/calls",
        " file:///etc/passwd",
    ],
)
def test_an_action_url_that_is_not_http_is_refused_when_saved(url):
    form = form_with_url(url)

    assert not form.is_valid()
    assert "only http:// and https:// URLs can be called" in " ".join(form.errors["parameters"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080\\@crm.example/x",
        "https://user:pw@crm.example/x",
        "https://crm.example@127.0.0.1/x",
        "http:\\\\crm.example/x",
        "https://crm.example /x",
    ],
)
def test_an_action_url_with_a_trick_is_refused_when_saved(url):
    assert not form_with_url(url).is_valid()


# (A host from a placeholder is refused: tests/test_action_templates.py.)
@pytest.mark.parametrize(
    "url",
    [
        "https://crm.example/calls/{{ telephony.call_id }}",
        "HTTP://crm.example:8443/x?phone={{ telephony.caller_number }}",
        "https://crm.example",
    ],
)
def test_ordinary_http_action_urls_with_placeholders_are_accepted(url):
    form = form_with_url(url)
    assert form.is_valid(), form.errors


def test_the_admin_refuses_a_file_url_with_a_clear_message(admin_client):
    response = admin_client.post(
        "/admin/actions/action/add/",
        {
            "name": "CRM",
            "description": "",
            "kind": "http",
            "new_secrets": "",
            "parameters": json.dumps({"url": "file:///etc/passwd"}),
        },
    )

    assert response.status_code == 200 and "only http:// and https:// URLs can be called" in response.content.decode()
    assert not Action.objects.exists()


def test_trick_action_urls_never_reach_the_local_server(http_server, settings):
    """Stored before the form refused them, or written straight to the database: refused when called."""
    settings.ACTIONS_ALLOWED_HOSTS = [ALLOWED]
    http_server.route("GET", "/x", json={"manager": {"email": "a@b.example"}})
    state = {"telephony": {"call_id": "c-1"}, "payloads": [], "channel": {}, "bot": {}}

    for url in trick_urls(http_server.port):
        action = Action(name="CRM", kind="http", parameters={"method": "GET", "url": url, "retries": 0, "timeout": 1})
        result = action.run(state)
        assert result.error, url

    assert http_server.connections == 0
