"""Every authentication scheme a channel can use, through the real endpoint: valid, tampered, wrong secret,
missing header, stale and future timestamps, rotation, and a misconfiguration that refuses everything.
Known-answer vectors come from the schemes' own published test suites."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from channels_app import signatures
from channels_app.models import RawEvent

from .conftest import fixture, webhook_path

pytestmark = pytest.mark.django_db

BODY = json.dumps(fixture("generic_call.json")).encode()
TAMPERED = BODY.replace(b"c-1001", b"c-6666")


@pytest.fixture
def channel_with(make_channel):
    def make(secret="current-secret", data_format="json", **authentication):
        channel = make_channel("generic", data_format=data_format)
        channel.advanced_config["authentication"] = authentication
        if secret:
            channel.set_signature_secret(secret)
        channel.save()
        return channel

    return make


def deliver(client, channel, body=BODY, content_type="application/json", query="", remote_addr="127.0.0.1", **headers):
    path = webhook_path(channel, False) + query
    return client.generic("POST", path, body, content_type=content_type, headers=headers, REMOTE_ADDR=remote_addr)


def accepted(response):
    return response.status_code == 202


def refused(response, reason):
    assert response.status_code == 401, response.content
    assert reason in response.json()["error"]
    return True


def rotate(channel, new_secret):
    channel.set_signature_secret(new_secret)
    channel.save()


def forget(channel):
    channel.forget_previous_secret()
    channel.save()


# -- Known-answer vectors -------------------------------------------------------------------------------


def test_standard_webhooks_signature_matches_the_specifications_own_vector():
    signature = signatures.standard_webhooks_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}'
    )
    assert signature == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_twilio_signature_matches_twilios_own_vectors():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    form = b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309"
    assert signatures.twilio_signature("12345", url + signatures.twilio_fields(form)) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    duplicates = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    assert (
        signatures.twilio_signature("12345", url + signatures.twilio_fields(duplicates))
        == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    )


# -- token, Basic, body token, source address --------------------------------------------------------------


def test_basic_scheme_needs_the_user_name_and_a_secret_as_password(client, channel_with):
    channel = channel_with(scheme="basic", username="twilio")

    def basic(user, password):
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert accepted(deliver(client, channel, Authorization=basic("twilio", "current-secret")))
    assert refused(deliver(client, channel, Authorization=basic("twilio", "wrong")), "wrong HTTP Basic")
    assert refused(deliver(client, channel, Authorization=basic("other", "current-secret")), "wrong HTTP Basic")
    assert refused(deliver(client, channel), "missing HTTP Basic credentials")
    assert refused(deliver(client, channel, query=f"?token={channel.token}"), "missing HTTP Basic credentials")
    rotate(channel, "next-secret")
    assert accepted(deliver(client, channel, Authorization=basic("twilio", "current-secret")))
    forget(channel)
    assert refused(deliver(client, channel, Authorization=basic("twilio", "current-secret")), "wrong HTTP Basic")
    assert accepted(deliver(client, channel, Authorization=basic("twilio", "next-secret")))


def test_body_token_scheme_reads_the_token_from_the_body(client, channel_with):
    channel = channel_with(scheme="body_token", path="token")

    def with_token(token):
        return json.dumps({**fixture("generic_call.json"), **({"token": token} if token else {})})

    assert accepted(deliver(client, channel, with_token("current-secret")))
    assert refused(deliver(client, channel, with_token("wrong-secret")), "wrong token in the body field 'token'")
    assert refused(deliver(client, channel, with_token(None)), "missing token field 'token'")
    assert refused(deliver(client, channel, b"not json"), "missing token field")
    rotate(channel, "next-secret")
    assert accepted(deliver(client, channel, with_token("current-secret")))
    forget(channel)
    assert refused(deliver(client, channel, with_token("current-secret")), "wrong token")


def test_allowed_networks_limit_any_scheme_to_the_providers_addresses(client, channel_with):
    channel = channel_with(secret=None, scheme="token", allowed_networks=["194.88.218.0/24", "2001:db8::/32"])
    query = f"?token={channel.token}"

    assert accepted(deliver(client, channel, query=query, remote_addr="194.88.218.116"))
    assert accepted(deliver(client, channel, query=query, remote_addr="2001:db8::7"))
    assert refused(deliver(client, channel, query=query, remote_addr="203.0.113.9"), "from 203.0.113.9 are not allowed")
    assert refused(deliver(client, channel, remote_addr="194.88.218.116"), "wrong webhook token"), "both must hold"


def test_source_ip_scheme_trusts_the_address_alone_and_forwarded_for_only_behind_a_trusted_proxy(
    client, channel_with, settings
):
    channel = channel_with(secret=None, scheme="source_ip", allowed_networks=["194.88.218.116"])

    assert accepted(deliver(client, channel, remote_addr="194.88.218.116"))
    forged = deliver(client, channel, remote_addr="203.0.113.9", **{"X-Forwarded-For": "194.88.218.116"})
    assert refused(forged, "from 203.0.113.9 are not allowed"), "X-Forwarded-For from anyone is not believed"

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    behind_proxy = deliver(
        client, channel, remote_addr="10.1.1.1", **{"X-Forwarded-For": "198.51.100.1, 194.88.218.116"}
    )
    assert accepted(behind_proxy), "the last hop before our proxy is the sender"
    spoofed = deliver(client, channel, remote_addr="10.1.1.1", **{"X-Forwarded-For": "194.88.218.116, 198.51.100.1"})
    assert refused(spoofed, "from 198.51.100.1 are not allowed")


def test_a_source_ip_channel_without_networks_and_a_bad_network_are_misconfigurations(
    client, channel_with, admin_client
):
    channel = channel_with(secret=None, scheme="token", allowed_networks=["not-a-network"])
    assert refused(deliver(client, channel, query=f"?token={channel.token}"), "the channel is misconfigured")
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{channel.pk}/change/").content.decode()
    assert "Every delivery is refused: allowed_networks holds something that is not an address" in page


# -- hmac: raw body, templates of fields, per-event templates, compact JSON --------------------------------


def test_hmac_over_a_template_of_headers_and_body(client, channel_with):
    channel = channel_with(
        scheme="hmac",
        header="X-Signature",
        algorithm="sha256",
        encoding="hex",
        signed_content="{header:X-Timestamp}.{body}",
    )

    def sign(secret, body=BODY, stamp="1700000000"):
        return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()

    assert accepted(deliver(client, channel, **{"X-Signature": sign("current-secret"), "X-Timestamp": "1700000000"}))
    assert refused(
        deliver(client, channel, TAMPERED, **{"X-Signature": sign("current-secret"), "X-Timestamp": "1700000000"}),
        "does not match",
    )
    assert refused(
        deliver(client, channel, **{"X-Signature": sign("current-secret"), "X-Timestamp": "1700000001"}),
        "does not match",
    )
    assert refused(
        deliver(client, channel, **{"X-Signature": sign("wrong"), "X-Timestamp": "1700000000"}), "does not match"
    )
    assert refused(deliver(client, channel, **{"X-Timestamp": "1700000000"}), "missing signature header X-Signature")


ZADARMA_AUTH = {
    "scheme": "hmac",
    "header": "Signature",
    "algorithm": "sha1",
    "encoding": "base64_hex",
    "signed_content": {
        "by": "event",
        "templates": {
            "NOTIFY_START": "{caller_id}{called_did}{call_start}",
            "NOTIFY_RECORD": "{pbx_call_id}{call_id_with_rec}",
        },
    },
}
ZADARMA_START = b"event=NOTIFY_START&call_start=2026-11-24+10%3A00%3A00&pbx_call_id=in_1&caller_id=380441234567&called_did=380449876543"


def zadarma_signature(secret, content):
    return base64.b64encode(hmac.new(secret.encode(), content.encode(), hashlib.sha1).hexdigest().encode()).decode()


def test_hmac_over_the_fields_each_event_type_signs(client, channel_with):
    channel = channel_with(data_format="form", **ZADARMA_AUTH)
    form = "application/x-www-form-urlencoded"
    good = zadarma_signature("current-secret", "380441234567380449876543" + "2026-11-24 10:00:00")

    assert accepted(deliver(client, channel, ZADARMA_START, form, Signature=good))
    assert refused(
        deliver(client, channel, ZADARMA_START.replace(b"380441234567", b"380441234568"), form, Signature=good),
        "does not match",
    )
    assert refused(
        deliver(
            client,
            channel,
            ZADARMA_START,
            form,
            Signature=zadarma_signature("wrong", "3804412345673804498765432026-11-24 10:00:00"),
        ),
        "does not match",
    )
    assert refused(deliver(client, channel, ZADARMA_START, form), "missing signature header Signature")
    unknown = ZADARMA_START.replace(b"NOTIFY_START", b"NOTIFY_SOMETHING")
    assert refused(deliver(client, channel, unknown, form, Signature=good), "no signed-content template for event")


def test_compact_json_fallback_accepts_what_a_javascript_sender_signed(client, channel_with):
    channel = channel_with(scheme="hmac", header="x-signature", also_sign_compact_json=True)
    payload = {"id": "call-1", "time": 1693389853611, "rate": 1.0, "text": "Ciao/ü"}
    pretty = json.dumps(payload, indent=2, ensure_ascii=True).encode()
    as_javascript_writes_it = b'{"id":"call-1","time":1693389853611,"rate":1,"text":"Ciao/\xc3\xbc"}'
    signature = hmac.new(b"current-secret", as_javascript_writes_it, hashlib.sha256).hexdigest()

    assert accepted(deliver(client, channel, pretty, **{"x-signature": signature}))
    assert refused(
        deliver(client, channel, pretty.replace(b"call-1", b"call-2"), **{"x-signature": signature}), "does not match"
    )
    strict = channel_with(scheme="hmac", header="x-signature")
    assert refused(deliver(client, strict, pretty, **{"x-signature": signature}), "does not match")


# -- Standard Webhooks ---------------------------------------------------------------------------------

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WHSEC_NEXT = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()


def standard_headers(secret=WHSEC, body=BODY, stamp=None, message_id="msg_1"):
    stamp = str(int(time.time()) if stamp is None else stamp)
    signature = signatures.standard_webhooks_signature(secret, message_id, stamp, body)
    return {"webhook-id": message_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{signature}"}


def test_standard_webhooks(client, channel_with):
    channel = channel_with(secret=WHSEC, scheme="standard_webhooks")
    now = int(time.time())

    assert accepted(deliver(client, channel, **standard_headers()))
    several = standard_headers()
    several["webhook-signature"] = "v1,bm90IHRoaXMgb25l " + several["webhook-signature"]
    assert accepted(deliver(client, channel, **several)), "any of several signatures may match"
    assert refused(deliver(client, channel, TAMPERED, **standard_headers()), "does not match")
    assert refused(deliver(client, channel, **standard_headers(secret=WHSEC_NEXT)), "does not match")
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = standard_headers()
        del headers[header]
        assert refused(deliver(client, channel, **headers), f"missing header {header}")
    assert refused(deliver(client, channel, **standard_headers(stamp=int(time.time()) - 400)), "more than 300 s old")
    assert refused(deliver(client, channel, **standard_headers(stamp=int(time.time()) + 400)), "in the future")
    assert accepted(deliver(client, channel, **standard_headers(stamp=now - 250)))
    replayed_id = standard_headers()
    replayed_id["webhook-id"] = "msg_2"
    assert refused(deliver(client, channel, **replayed_id), "does not match"), "the id is signed too"

    rotate(channel, WHSEC_NEXT)
    assert accepted(deliver(client, channel, **standard_headers(secret=WHSEC)))
    assert accepted(deliver(client, channel, **standard_headers(secret=WHSEC_NEXT)))
    forget(channel)
    assert refused(deliver(client, channel, **standard_headers(secret=WHSEC)), "does not match")


def test_a_secret_that_is_not_base64_refuses_everything_and_the_page_says_so(client, channel_with, admin_client):
    channel = channel_with(secret="whsec_not base64!", scheme="standard_webhooks")
    assert refused(deliver(client, channel, **standard_headers()), "the channel is misconfigured")
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{channel.pk}/change/").content.decode()
    assert "Every delivery is refused: a Standard Webhooks secret is whsec_ followed by base64" in page


# -- Twilio ------------------------------------------------------------------------------------------

TWILIO_FORM = (
    b"CallSid=CA1&AccountSid=AC1&From=%2B14155550142&To=%2B16465550187&CallStatus=completed"
    b"&Direction=inbound&Timestamp=Tue%2C+24+Nov+2026+10%3A01%3A37+%2B0000"
)


def twilio_header(secret, url, body=TWILIO_FORM):
    return {"X-Twilio-Signature": signatures.twilio_signature(secret, url + signatures.twilio_fields(body))}


def test_twilio_signature_of_the_url_and_sorted_fields(client, channel_with, settings):
    settings.PUBLIC_BASE_URL = "https://connective.example.com"
    channel = channel_with(secret="twilio-auth-token", data_format="form", scheme="twilio")
    form = "application/x-www-form-urlencoded"
    query = "?tenant=7"
    published = channel.webhook_url.replace("http://127.0.0.1:8000", settings.PUBLIC_BASE_URL) + query

    assert accepted(deliver(client, channel, TWILIO_FORM, form, query, **twilio_header("twilio-auth-token", published)))
    with_port = published.replace(".com/", ".com:443/")
    assert accepted(deliver(client, channel, TWILIO_FORM, form, query, **twilio_header("twilio-auth-token", with_port)))
    as_reached = "http://testserver" + webhook_path(channel, False) + query
    assert accepted(
        deliver(client, channel, TWILIO_FORM, form, query, **twilio_header("twilio-auth-token", as_reached))
    )

    tampered = TWILIO_FORM.replace(b"completed", b"busy")
    assert refused(
        deliver(client, channel, tampered, form, query, **twilio_header("twilio-auth-token", published)),
        "does not match",
    )
    assert refused(
        deliver(client, channel, TWILIO_FORM, form, "?tenant=8", **twilio_header("twilio-auth-token", published)),
        "does not match",
    ), "the query string is signed"
    assert refused(
        deliver(client, channel, TWILIO_FORM, form, query, **twilio_header("wrong", published)), "does not match"
    )
    assert refused(deliver(client, channel, TWILIO_FORM, form, query), "missing signature header X-Twilio-Signature")

    rotate(channel, "next-auth-token")
    assert accepted(deliver(client, channel, TWILIO_FORM, form, query, **twilio_header("twilio-auth-token", published)))
    forget(channel)
    assert refused(
        deliver(client, channel, TWILIO_FORM, form, query, **twilio_header("twilio-auth-token", published)),
        "does not match",
    )
    assert accepted(deliver(client, channel, TWILIO_FORM, form, query, **twilio_header("next-auth-token", published)))


def test_twilio_json_bodies_are_signed_through_body_sha256(client, channel_with, settings):
    settings.PUBLIC_BASE_URL = "https://connective.example.com"
    channel = channel_with(secret="twilio-auth-token", scheme="twilio")
    query = f"?bodySHA256={hashlib.sha256(BODY).hexdigest()}"
    url = channel.webhook_url.replace("http://127.0.0.1:8000", settings.PUBLIC_BASE_URL) + query
    header = {"X-Twilio-Signature": signatures.twilio_signature("twilio-auth-token", url)}

    assert accepted(deliver(client, channel, BODY, query=query, **header))
    assert refused(deliver(client, channel, TAMPERED, query=query, **header), "does not match its bodySHA256")


# -- Telnyx (Ed25519) ----------------------------------------------------------------------------------


def ed25519_pair():
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, base64.b64encode(public).decode()


def telnyx_headers(private, body=BODY, stamp=None):
    stamp = str(int(time.time()) if stamp is None else stamp)
    signature = private.sign(f"{stamp}|".encode() + body)
    return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": stamp}


def test_telnyx_ed25519_signatures(client, channel_with):
    private, public = ed25519_pair()
    other_private, other_public = ed25519_pair()
    channel = channel_with(secret=public, scheme="telnyx")
    now = int(time.time())

    assert accepted(deliver(client, channel, **telnyx_headers(private)))
    assert refused(deliver(client, channel, TAMPERED, **telnyx_headers(private)), "does not match")
    assert refused(deliver(client, channel, **telnyx_headers(other_private)), "does not match")
    signed_at_another_time = telnyx_headers(private)
    signed_at_another_time["telnyx-timestamp"] = str(now - 1)
    assert refused(deliver(client, channel, **signed_at_another_time), "does not match"), "the timestamp is signed"
    assert refused(deliver(client, channel, **{"telnyx-timestamp": str(now)}), "missing signature header")
    assert refused(deliver(client, channel, **{"telnyx-signature-ed25519": "AAAA"}), "missing header telnyx-timestamp")
    assert refused(
        deliver(client, channel, **telnyx_headers(private, stamp=int(time.time()) - 400)), "more than 300 s old"
    )
    assert refused(deliver(client, channel, **telnyx_headers(private, stamp=int(time.time()) + 400)), "in the future")

    rotate(channel, other_public)
    assert accepted(deliver(client, channel, **telnyx_headers(private)))
    assert accepted(deliver(client, channel, **telnyx_headers(other_private)))
    forget(channel)
    assert refused(deliver(client, channel, **telnyx_headers(private)), "does not match")


def test_a_telnyx_key_that_is_not_a_public_key_is_a_misconfiguration(client, channel_with):
    channel = channel_with(secret="paste-the-public-key-here", scheme="telnyx")
    private, _ = ed25519_pair()
    assert refused(deliver(client, channel, **telnyx_headers(private)), "a Telnyx public key is 32 bytes in base64")


# -- Vonage (signed JWT) ---------------------------------------------------------------------------------


def vonage_header(secret, body=BODY, issued_at=None, algorithm="HS256", **claims):
    claims = {
        "iat": int(time.time()) if issued_at is None else issued_at,
        "jti": "j-1",
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "abc123",
        **claims,
    }
    return {"Authorization": "Bearer " + jwt.encode(claims, secret, algorithm=algorithm)}


def test_vonage_signed_webhooks(client, channel_with):
    secret = "vonage-signature-secret-of-32-chars!"
    channel = channel_with(secret=secret, scheme="vonage")
    now = int(time.time())

    assert accepted(deliver(client, channel, **vonage_header(secret)))
    assert refused(
        deliver(client, channel, TAMPERED, **vonage_header(secret)), "does not match the signature's payload_hash"
    )
    assert refused(deliver(client, channel, **vonage_header("another-secret-of-thirty-two-chars")), "does not match")
    assert refused(deliver(client, channel), "missing Authorization: Bearer")
    assert refused(
        deliver(client, channel, **vonage_header(secret, issued_at=int(time.time()) - 400)), "more than 300 s old"
    )
    assert refused(deliver(client, channel, **vonage_header(secret, issued_at=int(time.time()) + 400)), "in the future")
    unsigned = jwt.encode({"iat": now, "payload_hash": hashlib.sha256(BODY).hexdigest()}, None, algorithm="none")
    assert refused(deliver(client, channel, Authorization=f"Bearer {unsigned}"), "not valid"), "alg none is refused"
    without_hash = {"Authorization": "Bearer " + jwt.encode({"iat": now}, secret, algorithm="HS256")}
    assert refused(deliver(client, channel, **without_hash), "payload_hash")

    rotate(channel, "the-next-vonage-signature-secret!!")
    assert accepted(deliver(client, channel, **vonage_header(secret)))
    forget(channel)
    assert refused(deliver(client, channel, **vonage_header(secret)), "does not match")


# -- RSA (sipgate.io) ------------------------------------------------------------------------------------


def rsa_pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def rsa_signed(private, body=BODY):
    return {"X-Sipgate-Signature": base64.b64encode(private.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()}


def test_rsa_signatures_with_the_configured_key_and_a_pasted_one(client, channel_with):
    published, published_public = rsa_pair()
    pasted, pasted_public = rsa_pair()
    stranger, _ = rsa_pair()
    channel = channel_with(
        secret=None, scheme="rsa_sha256", header="X-Sipgate-Signature", public_keys=[published_public]
    )

    assert accepted(deliver(client, channel, **rsa_signed(published)))
    assert refused(deliver(client, channel, TAMPERED, **rsa_signed(published)), "does not match")
    assert refused(deliver(client, channel, **rsa_signed(stranger)), "does not match")
    assert refused(deliver(client, channel), "missing signature header X-Sipgate-Signature")
    assert refused(deliver(client, channel, **{"X-Sipgate-Signature": "not base64!"}), "is not base64")
    rotate(channel, pasted_public)  # the provider's new key, before the preset knows it
    assert accepted(deliver(client, channel, **rsa_signed(pasted)))
    assert accepted(deliver(client, channel, **rsa_signed(published)))


def test_an_rsa_key_that_is_not_pem_is_a_misconfiguration(client, channel_with):
    channel = channel_with(secret="ssh-rsa AAAA not a pem key", scheme="rsa_sha256", header="X-Sipgate-Signature")
    private, _ = rsa_pair()
    assert refused(deliver(client, channel, **rsa_signed(private)), "an RSA public key is PEM text")


# -- Failing closed, and the Test button ----------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme", ["basic", "body_token", "hmac", "standard_webhooks", "twilio", "telnyx", "vonage", "rsa_sha256"]
)
def test_every_secret_scheme_without_its_secret_refuses_everything(client, channel_with, scheme):
    channel = channel_with(
        secret=None, scheme=scheme, **({"header": "X-Signature"} if scheme in ("hmac", "rsa_sha256") else {})
    )
    response = deliver(client, channel, query=f"?token={channel.token}")
    assert refused(response, "needs its signature secret, which is not set")
    assert not RawEvent.objects.exists()


def test_an_unknown_scheme_refuses_everything_and_the_page_says_so(client, channel_with, admin_client):
    channel = channel_with(secret=None, scheme="token")
    type(channel).objects.filter(pk=channel.pk).update(
        advanced_config={**channel.advanced_config, "authentication": {"scheme": "carrier-pigeon"}}
    )
    channel.refresh_from_db()
    assert refused(
        deliver(client, channel, query=f"?token={channel.token}"), "unknown authentication scheme 'carrier-pigeon'"
    )
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{channel.pk}/change/").content.decode()
    assert "Every delivery is refused: unknown authentication scheme" in page


def test_our_test_signature_passes_any_scheme_and_a_forged_one_does_not(client, channel_with):
    from channels_app.authentication import test_headers

    _, public = ed25519_pair()
    channel = channel_with(secret=public, scheme="telnyx")
    assert accepted(deliver(client, channel, **test_headers(channel, BODY)))
    assert refused(deliver(client, channel, TAMPERED, **test_headers(channel, BODY)), "missing signature header")
    assert refused(deliver(client, channel, **{"X-Connective-Test-Signature": "0" * 64}), "missing signature header")


def test_the_zadarma_url_check_echoes_only_where_configured(client, channel_with):
    channel = channel_with(secret=None, scheme="token", echo_parameter="zd_echo")
    answer = client.get(webhook_path(channel, False) + "?zd_echo=a1B2c3")
    assert answer.status_code == 200 and answer.content == b"a1B2c3"
    assert answer["Content-Type"].startswith("text/plain")
    assert client.get(webhook_path(channel, False)).status_code == 405
    plain = channel_with(secret=None, scheme="token")
    assert client.get(webhook_path(plain, False) + "?zd_echo=a1B2c3").status_code == 405
    assert not RawEvent.objects.exists()


def test_the_secret_is_never_shown_again_in_full(admin_client, channel_with):
    channel = channel_with(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", scheme="standard_webhooks")
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{channel.pk}/change/").content.decode()
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in page
    assert "current …LaSw" in page
