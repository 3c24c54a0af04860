"""Who may deliver to a channel: its URL token (the default), or a signature of the body (HMAC), as the
channel's Advanced Config says. Fails closed: a scheme without its secret, or an unknown scheme, refuses
every delivery and says why."""

import base64
import binascii
import hashlib
import hmac
from urllib.parse import parse_qs

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def refusal(channel, request, body):
    """Why this delivery is not the provider's, or None when it is."""
    config = channel.mapping.authentication
    scheme = config.get("scheme", "token")
    if scheme == "token":
        return None if channel.accepts_token(presented_token(request)) else "missing or wrong webhook token"
    if scheme == "hmac":
        return hmac_refusal(channel, config, request.headers.get(config["header"], ""), body)
    return f"the channel is misconfigured: unknown authentication scheme '{scheme}'"


def hmac_refusal(channel, config, presented, body):
    secrets = channel.signature_secrets()
    if not secrets:
        return "the channel is misconfigured: its signature secret is not set"
    presented = presented.strip().removeprefix(config.get("prefix", ""))
    if not presented:
        return f"missing signature header {config['header']}"
    for secret in secrets:  # the current secret and, during a rotation, the previous one
        if hmac.compare_digest(signature(config, secret, body).encode(), presented.encode()):
            return None
    return "the signature does not match the body"


def signature(config, secret, body):
    digest = hmac.new(secret.encode(), body, ALGORITHMS[config.get("algorithm", "sha256")]).digest()
    return base64.b64encode(digest).decode() if config.get("encoding") == "base64" else digest.hex()


def signing_headers(channel, body):
    """Headers that make a delivery of ours (the Test button's) pass the channel's own check."""
    config = channel.mapping.authentication
    headers = {"X-Webhook-Token": channel.token}
    secrets = channel.signature_secrets()
    if config.get("scheme") == "hmac" and secrets:
        headers[config["header"]] = config.get("prefix", "") + signature(config, secrets[0], body)
    return headers


def presented_token(request):
    """The token from ?token=, X-Webhook-Token, Authorization: Bearer, or Basic auth's password."""
    # Read the query string ourselves: request.GET decodes it with the body's declared charset, which a
    # hostile sender controls.
    query = parse_qs(request.META.get("QUERY_STRING", ""), max_num_fields=100, errors="replace")
    if query.get("token"):
        return query["token"][0]
    if request.headers.get("X-Webhook-Token"):
        return request.headers["X-Webhook-Token"]
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None
