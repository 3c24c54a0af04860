"""Floods are refused cheaply; provider traffic is accepted; limiters fail open."""

import pytest
from django.test import override_settings

from channels_app.models import RawEvent

from .conftest import fixture, post_event

pytestmark = pytest.mark.django_db


def test_a_flood_of_wrong_tokens_is_throttled_without_touching_the_database(
    client, generic, settings, django_assert_num_queries
):
    settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE = 5
    for _ in range(5):
        assert post_event(client, generic, fixture("generic_call.json"), token="wrong").status_code == 401

    with django_assert_num_queries(0):
        response = post_event(client, generic, fixture("generic_call.json"), token="wrong")
        assert client.post("/webhooks/telephony/11111111-1111-4111-8111-111111111111/?token=x").status_code == 429

    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert not RawEvent.objects.exists()


def test_unknown_webhooks_count_as_failures_too(client, settings):
    settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE = 3
    codes = [
        client.post(f"/webhooks/telephony/00000000-0000-4000-8000-00000000000{i}/?token=x").status_code
        for i in range(5)
    ]
    assert codes == [404, 404, 404, 429, 429]


def test_a_provider_sharing_the_address_of_a_flooder_still_gets_through(client, generic, settings):
    settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE = 2
    assert post_event(client, generic, fixture("generic_call.json")).status_code == 202  # the channel is known now
    for _ in range(3):
        post_event(client, generic, fixture("generic_call.json"), token="wrong")

    assert post_event(client, generic, fixture("generic_call.json")).status_code == 202


def test_only_an_extreme_rate_on_one_channel_is_refused_with_retry_after(client, generic, settings):
    settings.CHANNEL_MAX_DELIVERIES_PER_SECOND = 2

    codes = [post_event(client, generic, fixture("generic_call.json")).status_code for _ in range(5)]

    assert codes.count(202) <= 4 and 429 in codes
    refused = post_event(client, generic, fixture("generic_call.json"))
    if refused.status_code == 429:
        assert refused["Retry-After"] == "1"


def test_a_failing_limiter_lets_traffic_through(client, generic, settings):
    settings.CHANNEL_MAX_DELIVERIES_PER_SECOND = 1
    settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE = 1
    broken_cache = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with override_settings(CACHES=broken_cache):
        codes = [post_event(client, generic, fixture("generic_call.json")).status_code for _ in range(3)]
        wrong = [post_event(client, generic, fixture("generic_call.json"), token="bad").status_code for _ in range(3)]

    assert codes == [202, 202, 202]
    assert wrong == [401, 401, 401]


def test_a_new_token_takes_effect_at_once_despite_the_channel_cache(client, generic):
    old = generic.token
    assert post_event(client, generic, fixture("generic_call.json")).status_code == 202
    generic.regenerate_token()

    assert post_event(client, generic, fixture("generic_call.json"), token=old).status_code == 401
    assert post_event(client, generic, fixture("generic_call.json"), token=generic.token).status_code == 202


def test_more_than_a_thousand_events_in_one_delivery_is_refused(client, generic):
    response = post_event(client, generic, [{"call_id": str(i)} for i in range(1001)])
    assert response.status_code == 400 and "more than 1000 events" in response.json()["error"]
