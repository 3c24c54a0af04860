"""Outbound HTTP for everything the server fetches or calls on an administrator's or provider's word:
enrichment actions, recordings, transcription engines.

One set of rules for all of them: timeouts, retries of transient failures only, a size cap, and no
request to loopback, private, link-local, multicast or otherwise non-public addresses unless the host is
explicitly allowed. The address is checked after DNS resolution and the connection goes to the checked
address (so a DNS answer that changes in between cannot redirect it); every redirect is checked again.
"""

import ipaddress
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

MAX_REDIRECTS = 3
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundError(Exception):
    """A request that did not give a usable answer. `permanent`: trying again will not help."""

    def __init__(self, message, permanent=False):
        super().__init__(message)
        self.permanent = permanent


class RefusedAddress(OutboundError):
    def __init__(self, message):
        super().__init__(message, permanent=True)


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    url: str
    elapsed: float

    def json(self):
        import json

        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")


def is_public(address):
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.packed[-4:] if ip in NAT64 else None)
        if embedded is not None:
            return is_public(ipaddress.IPv4Address(embedded))
    return ip.is_global and not ip.is_multicast


def checked_address(url, allowed_hosts):
    """The address to connect to for `url`, or None when the host is allowed to be anything."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress(f"only http and https URLs can be called, not '{url[:100]}'")
    host = parts.hostname
    if host.lower() in {allowed.lower() for allowed in allowed_hosts}:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"cannot resolve host '{host}': {exc}") from None
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        if not is_public(address):
            raise RefusedAddress(
                f"refused to call '{host}': it resolves to {address}, a private or local address "
                "(an administrator can allow the host in the settings)"
            )
    return addresses[0]


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to an address we checked while TLS still verifies the certificate of the real host name."""

    def __init__(self, hostname, **kwargs):
        self.hostname = hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self.hostname
        kwargs["assert_hostname"] = self.hostname
        super().init_poolmanager(*args, **kwargs)


def request(method, url, *, allowed_hosts=(), timeout=5.0, retries=0, backoff=0.5, max_bytes=10 * 1024 * 1024, **kwargs):
    """Send one request (following up to three checked redirects) and read the whole answer, up to
    `max_bytes`; network errors and 5xx answers are retried `retries` times with exponential backoff."""
    attempt = 0
    while True:
        try:
            started = time.monotonic()
            with stream(method, url, allowed_hosts=allowed_hosts, timeout=timeout, **kwargs) as response:
                body = read_capped(response, max_bytes)
            answer = Answer(response.status_code, dict(response.headers), body, response.url, time.monotonic() - started)
        except OutboundError as exc:
            if exc.permanent or attempt >= retries:
                raise
        else:
            if answer.status < 500 or attempt >= retries:
                return answer
        attempt += 1
        time.sleep(backoff * 2 ** (attempt - 1))


@contextmanager
def stream(method, url, *, allowed_hosts=(), timeout=5.0, **kwargs):
    """An open streamed response after checked redirects; read it with `read_capped` or `iter_content`.
    `response.url` is the URL as the caller would write it (not the pinned address)."""
    for _ in range(MAX_REDIRECTS + 1):
        response = _send(method, url, allowed_hosts, timeout, kwargs)
        if response.is_redirect and response.headers.get("Location"):
            response.close()
            target = urljoin(url, response.headers["Location"])
            if origin(target) != origin(url):
                kwargs = without_credentials(kwargs)
            url = target
            if response.status_code in (301, 302, 303):
                method, kwargs = "GET", {k: v for k, v in kwargs.items() if k not in ("data", "json", "files")}
            continue
        response.url = url
        try:
            yield response
        finally:
            response.close()
        return
    raise OutboundError(f"more than {MAX_REDIRECTS} redirects", permanent=True)


SAFE_HEADERS = {"range", "accept", "accept-language", "user-agent", "content-type"}


def origin(url):
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def without_credentials(kwargs):
    """What may follow a redirect to another origin: no auth, and none of the caller's headers that could
    carry a secret (a recording host's token must not reach the CDN it redirects to)."""
    kept = {k: v for k, v in kwargs.items() if k != "auth"}
    if "headers" in kept:
        kept["headers"] = {name: value for name, value in kept["headers"].items() if name.lower() in SAFE_HEADERS}
    return kept


def _send(method, url, allowed_hosts, timeout, kwargs):
    address = checked_address(url, allowed_hosts)
    parts = urlsplit(url)
    session = requests.Session()
    session.trust_env = False  # no proxies or netrc from the environment
    headers = dict(kwargs.get("headers") or {})
    options = {k: v for k, v in kwargs.items() if k != "headers"}
    target = url
    if address is not None:
        host = f"[{address}]" if ":" in address else address
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        target = urlunsplit(parts._replace(netloc=netloc))
        headers["Host"] = parts.netloc.rpartition("@")[2]
        session.mount(f"{parts.scheme}://", PinnedAddressAdapter(parts.hostname))
    try:
        return session.request(method, target, headers=headers, timeout=timeout, allow_redirects=False, stream=True, **options)
    except requests.Timeout:
        raise OutboundError(f"no answer from {parts.hostname} within {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise OutboundError(f"cannot connect to {parts.hostname}: {_reason(exc)}") from None
    except requests.RequestException as exc:
        raise OutboundError(f"request to {parts.hostname} failed: {_reason(exc)}", permanent=True) from None


def read_capped(response, max_bytes):
    """The whole body, refusing more than `max_bytes` (declared or actually sent)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError(f"answer larger than {max_bytes} bytes", permanent=True)
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise OutboundError(f"answer larger than {max_bytes} bytes", permanent=True)
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise OutboundError(f"answer cut off: {_reason(exc)}") from None
    return b"".join(chunks)


def _reason(exc):
    text = str(exc.args[0] if exc.args else exc)
    return text.split(": ", 1)[-1][:200]
