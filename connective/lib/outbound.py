"""Outbound HTTP for everything the server fetches or calls on an administrator's or provider's word:
enrichment actions, recordings, transcription engines.

One set of rules for all of them: timeouts, retries of transient failures only, a size cap, and no
request to loopback, private, link-local, multicast or otherwise non-public addresses unless the host is
explicitly allowed. A URL is parsed once, by the parser that connects (a URL that reads as another host
to another parser is refused); the address is checked after DNS resolution and the connection goes to the
checked address (so a DNS answer that changes in between cannot redirect it); every redirect is checked
again. Allow-list entries are `host` (any port) or `host:port` (that port only).
"""

import ipaddress
import json
import re
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

MAX_REDIRECTS = 3
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NEVER_PUBLIC_V6 = [
    ipaddress.ip_network(network)
    for network in (
        "::/96",  # IPv4-compatible (deprecated): ::7f00:1 is 127.0.0.1 to some stacks
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): translates to whatever the local network has
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
    )
]


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
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")


def is_public(address):
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        if any(ip in network for network in NEVER_PUBLIC_V6):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.packed[-4:] if ip in NAT64 else None)
        if embedded is not None:
            return is_public(ipaddress.IPv4Address(embedded))
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """A URL as the connection reads it: one parse, used for the check and for the request alike."""

    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int  # the one connected to (the scheme's default when the URL names none)
    explicit_port: bool
    request_uri: str  # path and query, percent-encoded

    @property
    def netloc(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host

    def url_to(self, address):
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}{self.request_uri}"


HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_.])?$")


def parse(url):
    """The Target of `url`, read by the parser that connects (urllib3's); a URL that another reader
    (urlsplit, browsers) would take for another host or port is refused, as are credentials in the URL."""
    if not isinstance(url, str) or "\\" in url or any(ord(char) <= 32 or ord(char) == 127 for char in url):
        raise RefusedAddress(f"refused '{str(url)[:100]}': a URL with spaces, control characters or backslashes")
    try:
        parts = parse_url(url)
        split = urlsplit(url)
        split_port = split.port
    except (LocationParseError, ValueError):
        raise RefusedAddress(f"refused '{url[:100]}': not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise RefusedAddress(f"only http and https URLs can be called, not '{url[:100]}'")
    if parts.auth is not None or "@" in (split.netloc or ""):
        raise RefusedAddress(
            f"refused '{url[:100]}': a user name or password in the URL is never sent "
            "(set the credentials where the call is configured)"
        )
    host = parts.host.lower()
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise RefusedAddress(f"refused '{url[:100]}': not a valid IPv6 address") from None
    elif not HOST_NAME.match(host):
        raise RefusedAddress(f"refused '{url[:100]}': '{host[:60]}' is not a host name")
    if (split.scheme.lower(), (split.hostname or "").lower(), split_port) != (parts.scheme, host, parts.port):
        raise RefusedAddress(f"refused '{url[:100]}': it names a different host to different readers")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(parts.scheme, host, port, parts.port is not None, parts.request_uri)


def allows(allowed_hosts, target):
    """Whether an allow-list entry names the target: `host` allows any port, `host:port` only that one."""
    for entry in allowed_hosts:
        host, port = split_host_port(entry)
        if host == target.host and port in (None, target.port):
            return True
    return False


def split_host_port(entry):
    """'host', 'host:port', '[v6]', '[v6]:port' or a bare IPv6 address as (host, port or None)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def host_is_listed(url, hosts):
    """Whether `url`, as it would be connected to, goes to one of `hosts` (entries as in allow-lists)."""
    try:
        return allows(hosts, parse(url))
    except RefusedAddress:
        return False


def checked_address(target, allowed_hosts, setting="the settings"):
    """The address to connect to for `target`: public, or any when its host is allowed (in `setting`)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"cannot resolve host '{target.host}': {exc}") from None
    addresses = sorted({info[4][0] for info in infos}, key=lambda address: (":" in address, address))
    if not allows(allowed_hosts, target):
        for address in addresses:
            if not is_public(address):
                raise RefusedAddress(
                    f"refused to call '{target.host}': it resolves to {address}, a private or local address "
                    f"(an administrator can allow the host in {setting})"
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


def request(
    method, url, *, allowed_hosts=(), timeout=5.0, retries=0, backoff=0.5, max_bytes=10 * 1024 * 1024, **kwargs
):
    """Send one request (following up to three checked redirects) and read the whole answer, up to
    `max_bytes`; network errors and 5xx answers are retried `retries` times with exponential backoff."""
    attempt = 0
    while True:
        try:
            started = time.monotonic()
            with stream(method, url, allowed_hosts=allowed_hosts, timeout=timeout, **kwargs) as response:
                body = read_capped(response, max_bytes)
            answer = Answer(
                response.status_code, dict(response.headers), body, response.url, time.monotonic() - started
            )
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
    target = parse(url)
    return target.scheme, target.host, target.port


def without_credentials(kwargs):
    """What may follow a redirect to another origin: no auth, and none of the caller's headers that could
    carry a secret (a recording host's token must not reach the CDN it redirects to)."""
    kept = {k: v for k, v in kwargs.items() if k != "auth"}
    if "headers" in kept:
        kept["headers"] = {name: value for name, value in kept["headers"].items() if name.lower() in SAFE_HEADERS}
    return kept


def _send(method, url, allowed_hosts, timeout, kwargs):
    target = parse(url)
    address = checked_address(target, allowed_hosts)
    session = requests.Session()
    session.trust_env = False  # no proxies or netrc from the environment
    session.mount(f"{target.scheme}://", PinnedAddressAdapter(target.host))
    headers = {**(kwargs.get("headers") or {}), "Host": target.netloc}
    options = {k: v for k, v in kwargs.items() if k != "headers"}
    try:
        return session.request(
            method,
            target.url_to(address),
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            **options,
        )
    except requests.Timeout:
        raise OutboundError(f"no answer from {target.host} within {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise OutboundError(f"cannot connect to {target.host}: {_reason(exc)}") from None
    except requests.RequestException as exc:
        raise OutboundError(f"request to {target.host} failed: {_reason(exc)}", permanent=True) from None


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
