"""schemathesis against the OpenAPI schema, the webhook endpoint included: whatever it sends, no 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")


def operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_has_the_webhook_and_the_api(api_schema):
    paths = {operation.path for operation in operations(api_schema)}
    assert {
        "/webhooks/telephony/{webhook_id}/",
        "/api/dialogs/",
        "/api/dialogs/{id}/",
        "/api/topics/",
        "/api/channels/",
    } <= paths


def test_no_request_the_schema_allows_makes_a_server_error(api_schema, live_server, generic, django_user_model):
    user = django_user_model.objects.create_user("fuzz", "fuzz@example.com", "pw-fuzz-123", is_staff=True)
    token = Token.objects.create(user=user).key
    failures = []
    for operation in operations(api_schema):

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case):
            if operation.path.startswith("/webhooks/"):
                case.path_parameters = {**(case.path_parameters or {}), "webhook_id": str(generic.webhook_id)}
                case.query = {**(case.query or {}), "token": generic.token}
            response = case.call(base_url=live_server.url, headers={"Authorization": f"Token {token}"})
            if response.status_code >= 500:
                failures.append((operation.path, response.status_code, case.body, case.query))

        check()
    assert not failures, failures[:3]
    from channels_app.models import RawEvent

    assert RawEvent.objects.count() >= 10, "the fuzzer's deliveries reached the webhook"
