"""Who may deliver to a channel. Its Advanced Config names the scheme: the URL token (the default), HTTP
Basic, a token inside the body (Aircall), the source address alone, or a signature (signatures.py: HMAC of
the body or of a template of its fields, Standard Webhooks, Twilio, Telnyx, Vonage). Any scheme may also be
limited to `allowed_networks`. Fails closed: a scheme without its secret, with a malformed secret, or
unknown, refuses every delivery and says why (the channel's page shows the same sentence)."""

import base64
import binascii
import hmac
import ipaddress
from urllib.parse import parse_qs

from django.conf import settings
from django.utils.crypto import salted_hmac

from . import signatures
from .schemes import Delivery, Scheme

# Our own Test button signs its synthetic deliveries with a key only this server holds, so it works for
# every scheme, the provider's public-key ones included.
TEST_SIGNATURE_HEADER = "X-Connective-Test-Signature"


def refusal(channel, request, body, parsed_body=None):
    """Why this delivery is not the provider's, or None when it is (`parsed_body`: the webhook's parsing.Body
    of it, for schemes that read its fields)."""
    config = channel.mapping.authentication
    if is_our_test_delivery(channel, request, body):
        return None
    if problem := misconfiguration(channel):
        return f"the channel is misconfigured: {problem}"
    if config.get("allowed_networks") and (reason := source_refusal(config, client_address(request))):
        return reason
    return SCHEMES[scheme_name(config)].refusal(Delivery(channel, config, request, body, parsed_body))


def misconfiguration(channel):
    """Why every delivery to this channel is refused whatever it carries, or None."""
    config = channel.mapping.authentication
    scheme = SCHEMES.get(scheme_name(config))
    if scheme is None:
        return f"unknown authentication scheme '{scheme_name(config)}'"
    if scheme.needs_secret(config) and not channel.signature_secrets():
        return f"the {scheme_name(config)} authentication scheme needs its signature secret, which is not set"
    if not all(network_or_none(text) for text in config.get("allowed_networks", [])):
        return "allowed_networks holds something that is not an address or network"
    return scheme.misconfiguration(channel, config)


def scheme_name(config):
    return config.get("scheme", "token")


def is_our_test_delivery(channel, request, body):
    presented = request.headers.get(TEST_SIGNATURE_HEADER, "")
    return bool(presented) and hmac.compare_digest(test_signature(channel, body).encode(), presented.encode())


def test_signature(channel, body):
    return salted_hmac(
        "connective.test-delivery", str(channel.webhook_id).encode() + body, algorithm="sha256"
    ).hexdigest()


def test_headers(channel, body):
    """Headers that make a synthetic delivery of ours (the Test button's) pass the channel's check."""
    return {TEST_SIGNATURE_HEADER: test_signature(channel, body)}


# -- Source addresses ------------------------------------------------------------------------------------


def client_address(request):
    """The sender's address: REMOTE_ADDR, or behind one of settings.TRUSTED_PROXIES the last address in
    X-Forwarded-For that is not a trusted proxy."""
    address = request.META.get("REMOTE_ADDR") or ""
    if not settings.TRUSTED_PROXIES or not is_trusted_proxy(address):
        return address or None
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for hop in reversed(forwarded):
        if not is_trusted_proxy(hop):
            return hop if is_address(hop) else address  # a forged hop that is no address names no one
    return address


def is_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_trusted_proxy(address):
    return in_networks(address, settings.TRUSTED_PROXIES)


def source_refusal(config, address):
    allowed = config.get("allowed_networks")
    if allowed and not in_networks(address, allowed):
        return f"deliveries from {address or 'an unknown address'} are not allowed for this channel"
    return None


def in_networks(address, networks):
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(ip in network for network in map(network_or_none, networks) if network and network.version == ip.version)


def network_or_none(text):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


# -- Schemes that compare a presented value with a secret ---------------------------------------------


class TokenScheme(Scheme):
    """The webhook token from ?token=, X-Webhook-Token, Authorization: Bearer, or Basic auth's password."""

    name = "token"

    def needs_secret(self, config):
        return False

    def refusal(self, delivery):
        return (
            None
            if delivery.channel.accepts_token(presented_token(delivery.request))
            else "missing or wrong webhook token"
        )


class BasicScheme(Scheme):
    """HTTP Basic: the configured user name and a signature secret as the password."""

    name = "basic"

    def refusal(self, delivery):
        credentials = basic_credentials(delivery.request)
        if credentials is None:
            return "missing HTTP Basic credentials"
        username, password = credentials
        expected = delivery.config.get("username", "")
        if not (hmac.compare_digest(username.encode(), expected.encode()) & delivery.matches_a_secret(password)):
            return "wrong HTTP Basic user name or password"
        return None


class BodyTokenScheme(Scheme):
    """A shared token inside the body (Aircall's `token`)."""

    name = "body_token"

    def refusal(self, delivery):
        path = delivery.config.get("path", "token")
        presented = str(delivery.field(path))
        if not presented:
            return f"missing token field '{path}' in the body"
        return None if delivery.matches_a_secret(presented) else f"wrong token in the body field '{path}'"


class SourceAddressScheme(Scheme):
    """Only the sender's address counts (a provider that cannot sign or carry a token)."""

    name = "source_ip"

    def needs_secret(self, config):
        return False

    def config_problem(self, config):
        return None if config.get("allowed_networks") else "the source_ip scheme needs allowed_networks"

    def refusal(self, delivery):
        return None  # source_refusal() has already checked the address


SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (TokenScheme(), BasicScheme(), BodyTokenScheme(), SourceAddressScheme(), *signatures.SCHEMES)
}
"""Every authentication scheme by its name in Advanced Config: the schema's enum is derived from it."""


def presented_token(request):
    """The token from ?token=, X-Webhook-Token, Authorization: Bearer, or Basic auth's password."""
    # Read the query string ourselves: request.GET decodes it with the body's declared charset, which a
    # hostile sender controls.
    try:
        query = parse_qs(request.META.get("QUERY_STRING", ""), max_num_fields=100, errors="replace")
    except ValueError:  # more than 100 parameters: no provider's URL, and no token read from it
        query = {}
    if query.get("token"):
        return query["token"][0]
    if request.headers.get("X-Webhook-Token"):
        return request.headers["X-Webhook-Token"]
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        decoded = basic_credentials(request)
        return decoded[1] if decoded else None
    return None


def basic_credentials(request):
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, password = decoded.partition(":")
    return username, password
