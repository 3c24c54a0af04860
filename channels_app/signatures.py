"""Signature schemes. Each check compares a delivery with every secret in force (the current one and,
during a rotation, the previous one) and answers why it is refused, or None. Times are checked against a
window (`tolerance_seconds`, 300 by default) both ways: a stale signature may be a replay, a future one a
forgery made in advance."""

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from functools import lru_cache
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from .schemes import Scheme

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
DEFAULT_TOLERANCE_SECONDS = 300
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def timestamp_refusal(config, header, value):
    """Why a signed timestamp (Unix seconds) is refused: unreadable, stale or in the future; or None."""
    try:
        moment = int(str(value).strip())
    except ValueError:
        return f"{header} is not a Unix time"
    tolerance = config.get("tolerance_seconds", DEFAULT_TOLERANCE_SECONDS)
    drift = moment - time.time()
    if drift < -tolerance:
        return f"{header} is more than {tolerance} s old: a stale or replayed delivery"
    if drift > tolerance:
        return f"{header} is more than {tolerance} s in the future"
    return None


def any_equal(expected_values, presented):
    """Constant-time comparison against each expected value; every value is compared."""
    matches = [hmac.compare_digest(expected.encode(), presented.encode()) for expected in expected_values]
    return any(matches)


class HmacScheme(Scheme):
    """An HMAC in a header. Signed content: the raw body (default), or a template of the body's fields,
    headers and the body itself (`{caller_id}{called_did}`, `{header:X-Timestamp}.{body}`), possibly one
    template per event type (Zadarma). Encodings: hex, base64, or base64 of the hex digest (PHP's
    base64_encode(hash_hmac(...)))."""

    name = "hmac"

    def config_problem(self, config):
        return None if config.get("header") else "the hmac scheme needs a header"

    def refusal(self, delivery):
        config = delivery.config
        presented = delivery.header(config["header"]).removeprefix(config.get("prefix", "")).strip()
        if not presented:
            return f"missing signature header {config['header']}"
        contents = self.signed_contents(delivery)
        if isinstance(contents, str):
            return contents
        expected = [self.signature(config, secret, content) for secret in delivery.secrets for content in contents]
        return None if any_equal(expected, presented) else "the signature does not match the body"

    def signed_contents(self, delivery):
        """The byte strings the provider may have signed, or a refusal."""
        template = delivery.config.get("signed_content", "{body}")
        if isinstance(template, dict):
            kind = delivery.field(template["by"])
            if str(kind) not in template["templates"]:
                return f"no signed-content template for {template['by']} '{kind}'"
            template = template["templates"][str(kind)]
        contents = [render(template, delivery)]
        if delivery.config.get("also_sign_compact_json"):
            compact = compact_json(delivery.body)
            if compact is not None:
                contents.append(render(template, delivery, body=compact))
        return contents

    @staticmethod
    def signature(config, secret, content):
        digest = hmac.new(secret.encode(), content, ALGORITHMS[config.get("algorithm", "sha256")])
        encoding = config.get("encoding", "hex")
        if encoding == "base64":
            return base64.b64encode(digest.digest()).decode()
        if encoding == "base64_hex":
            return base64.b64encode(digest.hexdigest().encode()).decode()
        return digest.hexdigest()


def render(template, delivery, body=None):
    """The template with `{body}` as the raw bytes, `{header:Name}` and payload paths filled in."""
    parts = []
    position = 0
    for placeholder in PLACEHOLDER.finditer(template):
        parts.append(template[position : placeholder.start()].encode())
        name = placeholder.group(1)
        if name == "body":
            parts.append(delivery.body if body is None else body)
        elif name.startswith("header:"):
            parts.append(delivery.header(name.removeprefix("header:")).encode())
        else:
            parts.append(str(delivery.field(name)).encode())
        position = placeholder.end()
    parts.append(template[position:].encode())
    return b"".join(parts)


def compact_json(body):
    """The body as JavaScript's JSON.stringify writes it (what Wildix's example signs), or None."""
    try:
        data = json.loads(body, parse_float=javascript_number)
    except (ValueError, RecursionError):
        return None
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def javascript_number(text):
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


class StandardWebhooksScheme(Scheme):
    """standardwebhooks.com: `webhook-id`, `webhook-timestamp`, `webhook-signature` ("v1,<base64>", several
    separated by spaces); HMAC-SHA256 of "id.timestamp.body" keyed with the base64 of a `whsec_` secret."""

    name = "standard_webhooks"

    def secret_problem(self, secret):
        try:
            base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            return "a Standard Webhooks secret is whsec_ followed by base64"
        return None

    def refusal(self, delivery):
        for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            if not delivery.header(header):
                return f"missing header {header}"
        if reason := timestamp_refusal(delivery.config, "webhook-timestamp", delivery.header("webhook-timestamp")):
            return reason
        expected = [
            standard_webhooks_signature(
                secret, delivery.header("webhook-id"), delivery.header("webhook-timestamp"), delivery.body
            )
            for secret in delivery.secrets
        ]
        presented = [
            value.partition(",")[2] for value in delivery.header("webhook-signature").split() if value.startswith("v1,")
        ]
        return (
            None if any(any_equal(expected, value) for value in presented) else "the signature does not match the body"
        )


def standard_webhooks_signature(secret, message_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class TwilioScheme(Scheme):
    """X-Twilio-Signature: base64 HMAC-SHA1, keyed with the account's auth token, of the full URL Twilio
    called followed by the form's fields sorted by name (name then value). A JSON body is signed through
    the URL's bodySHA256 parameter instead."""

    name = "twilio"

    def refusal(self, delivery):
        presented = delivery.header("X-Twilio-Signature")
        if not presented:
            return "missing signature header X-Twilio-Signature"
        urls = called_urls(delivery.request)
        body_hash = parse_qs(delivery.request.META.get("QUERY_STRING", "")).get("bodySHA256")
        if body_hash:
            if not hmac.compare_digest(body_hash[0], hashlib.sha256(delivery.body).hexdigest()):
                return "the body does not match its bodySHA256"
            fields = ""
        else:
            fields = twilio_fields(delivery.body)
        expected = [twilio_signature(secret, url + fields) for secret in delivery.secrets for url in urls]
        return None if any_equal(expected, presented) else "the signature does not match the URL and fields"


def twilio_fields(body):
    values = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def twilio_signature(secret, content):
    return base64.b64encode(hmac.new(secret.encode(), content.encode(), hashlib.sha1).digest()).decode()


def called_urls(request):
    """The URL the provider called as it may have written it: as we were reached, and as we are published
    (PUBLIC_BASE_URL, behind a proxy), each with and without its default port."""
    urls = []
    for url in (settings.PUBLIC_BASE_URL + request.get_full_path(), request.build_absolute_uri()):
        for variant in port_variants(url):
            if variant not in urls:
                urls.append(variant)
    return urls


def port_variants(url):
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    without_port = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    return [url, without_port, with_port]


class TelnyxScheme(Scheme):
    """Telnyx API v2: Ed25519 signature (base64, header telnyx-signature-ed25519) of "timestamp|body",
    verified with the account's public key (base64, Mission Control → Keys & Credentials)."""

    name = "telnyx"

    def secret_problem(self, secret):
        return None if ed25519_key(secret) else "a Telnyx public key is 32 bytes in base64"

    def refusal(self, delivery):
        signature, timestamp = delivery.header("telnyx-signature-ed25519"), delivery.header("telnyx-timestamp")
        if not signature:
            return "missing signature header telnyx-signature-ed25519"
        if not timestamp:
            return "missing header telnyx-timestamp"
        if reason := timestamp_refusal(delivery.config, "telnyx-timestamp", timestamp):
            return reason
        try:
            signature = base64.b64decode(signature, validate=True)
        except binascii.Error:
            return "telnyx-signature-ed25519 is not base64"
        signed = f"{timestamp}|".encode() + delivery.body
        for secret in delivery.secrets:
            try:
                ed25519_key(secret).verify(signature, signed)
                return None
            except InvalidSignature:
                continue
        return "the signature does not match the body"


@lru_cache(maxsize=256)  # a public key is parsed once per process, not per delivery
def ed25519_key(secret):
    try:
        raw = base64.b64decode(secret.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None
    except (binascii.Error, ValueError):
        return None


class VonageScheme(Scheme):
    """Vonage signed webhooks: Authorization: Bearer <JWT>, HS256 with the account's signature secret; its
    `payload_hash` claim is the SHA-256 of the body and `iat` when it was signed."""

    name = "vonage"

    def refusal(self, delivery):
        scheme, _, token = delivery.header("Authorization").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing Authorization: Bearer signature token"
        claims = None
        for secret in delivery.secrets:
            try:
                claims = jwt.decode(
                    token.strip(),
                    secret,
                    algorithms=["HS256"],
                    options={"require": ["iat", "payload_hash"], "verify_iat": False},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                return f"the signature token is not valid: {exc}"
        if claims is None:
            return "the signature does not match"
        if not hmac.compare_digest(str(claims["payload_hash"]), hashlib.sha256(delivery.body).hexdigest()):
            return "the body does not match the signature's payload_hash"
        return timestamp_refusal(delivery.config, "the signature's iat", claims["iat"])


class RsaScheme(Scheme):
    """An RSA-SHA256 (PKCS#1 v1.5) signature of the raw body, base64 in a header (sipgate.io's
    X-Sipgate-Signature). The provider's published public keys sit in the config (`public_keys`, PEM);
    a key pasted as the channel's secret counts too."""

    name = "rsa_sha256"

    def needs_secret(self, config):
        return not config.get("public_keys")

    def secret_problem(self, secret):
        return None if rsa_key(secret) else "an RSA public key is PEM text (-----BEGIN PUBLIC KEY-----)"

    def config_problem(self, config):
        if not config.get("header"):
            return "the rsa_sha256 scheme needs a header"
        if not all(rsa_key(key) for key in config.get("public_keys", [])):
            return "public_keys holds something that is not an RSA public key in PEM"
        return None

    def refusal(self, delivery):
        header = delivery.config["header"]
        presented = delivery.header(header)
        if not presented:
            return f"missing signature header {header}"
        try:
            signature = base64.b64decode(presented, validate=True)
        except binascii.Error:
            return f"{header} is not base64"
        for key in [*delivery.config.get("public_keys", []), *delivery.secrets]:
            try:
                rsa_key(key).verify(signature, delivery.body, padding.PKCS1v15(), hashes.SHA256())
                return None
            except InvalidSignature:
                continue
        return "the signature does not match the body"


@lru_cache(maxsize=256)
def rsa_key(text):
    try:
        key = serialization.load_pem_public_key(text.strip().encode())
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, rsa.RSAPublicKey) else None


SCHEMES: tuple[Scheme, ...] = (
    RsaScheme(),
    HmacScheme(),
    StandardWebhooksScheme(),
    TwilioScheme(),
    TelnyxScheme(),
    VonageScheme(),
)
