"""Signed deliveries (Wildix's x-signature: hex HMAC-SHA256 of the raw body), secret rotation, failing closed."""

import base64
import hashlib
import hmac
import json

import pytest

from channels_app.models import RawEvent

from .conftest import fixture, post_event

pytestmark = pytest.mark.django_db

BODY = json.dumps(fixture("wildix_call_end.json")).encode()


def signed(secret, body=BODY, algorithm=hashlib.sha256):
    return hmac.new(secret.encode(), body, algorithm).hexdigest()


@pytest.fixture
def wildix(make_channel):
    channel = make_channel("wildix")
    channel.set_signature_secret("current-secret")
    channel.save()
    return channel


def deliver(client, channel, signature=None, body=BODY):
    headers = {} if signature is None else {"x-signature": signature}
    return post_event(client, channel, body, token=False, **headers)


def test_a_correctly_signed_delivery_is_accepted_without_a_token(client, wildix):
    assert deliver(client, wildix, signed("current-secret")).status_code == 202


@pytest.mark.parametrize(
    "signature, body, reason",
    [
        (None, BODY, "missing signature header x-signature"),
        (
            signed("current-secret"),
            BODY.replace(b"Call Rejected", b"Call Answered"),
            "the signature does not match the body",
        ),
        (signed("wrong-secret"), BODY, "the signature does not match the body"),
        (signed("current-secret", algorithm=hashlib.sha1), BODY, "the signature does not match the body"),
    ],
)
def test_a_missing_tampered_or_wrongly_keyed_signature_is_401_and_nothing_is_stored(
    client, wildix, signature, body, reason
):
    response = deliver(client, wildix, signature, body)
    assert response.status_code == 401 and response.json()["error"] == reason
    assert not RawEvent.objects.exists()


def test_the_url_token_alone_does_not_pass_a_signed_channel(client, wildix):
    assert post_event(client, wildix, BODY).status_code == 401


def test_two_secrets_are_valid_during_a_rotation_and_the_old_one_stops_when_forgotten(client, wildix):
    wildix.set_signature_secret("next-secret")
    wildix.save()
    assert deliver(client, wildix, signed("current-secret")).status_code == 202
    assert deliver(client, wildix, signed("next-secret")).status_code == 202

    wildix.forget_previous_secret()
    wildix.save()
    assert deliver(client, wildix, signed("current-secret")).status_code == 401
    assert deliver(client, wildix, signed("next-secret")).status_code == 202


def test_a_signed_channel_without_its_secret_refuses_everything_and_says_so(client, admin_client, make_channel):
    channel = make_channel("wildix")

    response = deliver(client, channel, signed("anything"))

    assert response.status_code == 401 and "needs its signature secret, which is not set" in response.json()["error"]
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{channel.pk}/change/").content.decode()
    assert "Every delivery is refused" in page


def test_base64_signatures_with_a_prefix_and_sha512(client, make_channel):
    channel = make_channel("generic")
    channel.advanced_config["authentication"] = {
        "scheme": "hmac",
        "header": "X-Hub-Signature",
        "algorithm": "sha512",
        "encoding": "base64",
        "prefix": "sha512=",
    }
    channel.set_signature_secret("s3")
    channel.save()
    body = json.dumps(fixture("generic_call.json")).encode()
    signature = "sha512=" + base64.b64encode(hmac.new(b"s3", body, hashlib.sha512).digest()).decode()

    assert post_event(client, channel, body, token=False, **{"X-Hub-Signature": signature}).status_code == 202
    assert (
        post_event(client, channel, body, token=False, **{"X-Hub-Signature": signature[:-4] + "AAA="}).status_code
        == 401
    )


def test_signature_secrets_are_encrypted_at_rest(wildix):
    assert "current-secret" not in wildix.signature_secrets_encrypted
