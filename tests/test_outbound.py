"""Outbound HTTP: timeouts, retries, size caps, and the refusal of private addresses."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connective.lib import outbound
from connective.lib.outbound import OutboundError, RefusedAddress, is_public

from .http_server import TestHTTPServer
from .url_tricks import ALLOWED, trick_url_strategy, trick_urls

LOCAL = ["127.0.0.1"]


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "127.0.0.1",
        "0.0.0.0",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "240.0.0.1",
        "198.18.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "fc00::1",
        "fe80::1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "ff02::1",
        "::7f00:1",
        "::ffff:0:7f00:1",
        "fec0::1",
        "feff:ffff::1",
        "64:ff9b:1::1",
        "64:ff9b:1:ffff::8.8.8.8",
        "::808:808",
        "::ffff:0:808:808",
        "2001::1",
        "::",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public(address)


@pytest.mark.parametrize(
    "address", ["1.1.1.1", "8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address):
    assert is_public(address)


def test_a_call_to_an_allowed_local_host_goes_through(http_server):
    http_server.route("GET", "/who", json={"email": "a@b.example"})

    answer = outbound.request("GET", http_server.url("/who"), allowed_hosts=LOCAL)

    assert answer.status == 200 and answer.json() == {"email": "a@b.example"}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_local_address_or_a_name_resolving_to_one_is_refused_before_any_byte_is_sent(http_server, host):
    http_server.route("GET", "/who", json={})

    with pytest.raises(RefusedAddress, match="private or local address"):
        outbound.request("GET", http_server.url("/who", host=host))

    assert http_server.requests == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[::1]:9/", "http://10.1.2.3/"])
def test_metadata_and_private_urls_are_refused(url):
    with pytest.raises(RefusedAddress):
        outbound.request("GET", url, timeout=1)


def test_a_redirect_to_a_private_address_is_refused(http_server):
    http_server.route("GET", "/jump", status=302, headers={"Location": http_server.url("/secret", host="localhost")})
    http_server.route("GET", "/secret", json={"secret": True})

    with pytest.raises(RefusedAddress):
        outbound.request("GET", http_server.url("/jump"), allowed_hosts=LOCAL)

    assert [r.path for r in http_server.requests] == ["/jump"]


def test_redirects_within_allowed_hosts_are_followed(http_server):
    http_server.route("GET", "/old", status=301, headers={"Location": "/new"})
    http_server.route("GET", "/new", body="here")

    assert outbound.request("GET", http_server.url("/old"), allowed_hosts=LOCAL).text == "here"


def test_only_http_and_https_are_called():
    with pytest.raises(RefusedAddress, match="only http and https"):
        outbound.request("GET", "file:///etc/passwd")


def test_a_slow_answer_times_out(http_server):
    http_server.route("GET", "/slow", json={}, delay=2)

    with pytest.raises(OutboundError, match="no answer from 127.0.0.1 within 0.5 s"):
        outbound.request("GET", http_server.url("/slow"), allowed_hosts=LOCAL, timeout=0.5)


def test_5xx_is_retried_with_backoff_and_4xx_is_not(http_server):
    http_server.route("GET", "/flaky", status=[500, 503, 200], json={"ok": True})
    http_server.route("GET", "/missing", status=404)

    assert (
        outbound.request("GET", http_server.url("/flaky"), allowed_hosts=LOCAL, retries=2, backoff=0.01).status == 200
    )
    assert (
        outbound.request("GET", http_server.url("/missing"), allowed_hosts=LOCAL, retries=2, backoff=0.01).status == 404
    )
    assert [r.path for r in http_server.requests] == ["/flaky"] * 3 + ["/missing"]


def test_a_refused_connection_is_a_transient_error():
    with pytest.raises(OutboundError) as error:
        outbound.request("GET", "http://127.0.0.1:9/", allowed_hosts=LOCAL, timeout=1)
    assert "cannot connect to 127.0.0.1" in str(error.value) and not error.value.permanent


def test_an_answer_over_the_size_cap_is_refused(http_server):
    http_server.route("GET", "/big", body=b"x" * 5000)

    with pytest.raises(OutboundError, match="larger than 1000 bytes"):
        outbound.request("GET", http_server.url("/big"), allowed_hosts=LOCAL, max_bytes=1000)


def test_credentials_do_not_follow_a_redirect_to_another_host(http_server):
    other = TestHTTPServer()
    try:
        other.route("GET", "/file", body="data")
        http_server.route("GET", "/rec", status=302, headers={"Location": other.url("/file")})
        http_server.route("GET", "/same", status=302, headers={"Location": "/file"})
        http_server.route("GET", "/file", body="data")
        secret = {
            "headers": {"Authorization": "Bearer rec-secret", "X-Api-Key": "k-1", "Range": "bytes=0-1"},
            "auth": None,
        }

        assert outbound.request("GET", http_server.url("/rec"), allowed_hosts=LOCAL, **secret).text == "data"
        assert outbound.request("GET", http_server.url("/same"), allowed_hosts=LOCAL, **secret).text == "data"

        moved = other.requests[0].headers
        assert "Authorization" not in moved and "X-Api-Key" not in moved and moved["Range"] == "bytes=0-1"
        assert http_server.requests[-1].headers["Authorization"] == "Bearer rec-secret", "same origin keeps them"
    finally:
        other.stop()


def embedded_forms(v4):
    """The IPv6 addresses that carry an IPv4 address: mapped, compatible, translated, NAT64, 6to4."""
    n = int(ipaddress.IPv4Address(v4))
    return {
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "compatible": ipaddress.IPv6Address(n),
        "translated": ipaddress.IPv6Address((0xFFFF << 48) | n),
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "local_nat64": ipaddress.IPv6Address((0x64FF9B0001 << 80) | n),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (n << 80)),
    }


non_public_v4 = st.sampled_from(
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
    ]
).flatmap(
    lambda net: st.integers(0, ipaddress.ip_network(net).num_addresses - 1).map(
        lambda i, net=net: str(ipaddress.ip_network(net)[i])
    )
)


@settings(max_examples=300)
@given(non_public_v4, st.sampled_from(["mapped", "compatible", "translated", "nat64", "local_nat64", "6to4"]))
def test_a_private_ipv4_address_is_refused_in_every_ipv6_disguise(v4, form):
    assert not is_public(v4)
    assert not is_public(str(embedded_forms(v4)[form]))


@given(
    st.sampled_from(["8.8.8.8", "1.1.1.1", "9.9.9.9", "151.101.1.1"]),
    st.sampled_from(["compatible", "translated", "local_nat64"]),
)
def test_deprecated_or_local_ipv4_carrying_ipv6_forms_are_refused_even_for_public_addresses(v4, form):
    assert not is_public(str(embedded_forms(v4)[form]))


@given(st.integers(0, 2**118 - 1))
def test_site_local_ipv6_is_refused(offset):
    assert not is_public(str(ipaddress.IPv6Address((0xFEC0 << 112) | offset)))


def test_a_backslash_before_the_at_sign_cannot_smuggle_a_local_address_past_the_allow_list(http_server):
    http_server.route("GET", "/x", body="internal")

    with pytest.raises(RefusedAddress):
        outbound.request("GET", f"http://127.0.0.1:{http_server.port}\\@{ALLOWED}/x", allowed_hosts=[ALLOWED])

    assert http_server.connections == 0


@pytest.mark.parametrize("url", ["http://user:pw@127.0.0.1:{port}/x", "http://127.0.0.1@127.0.0.1:{port}/x"])
def test_credentials_in_the_url_are_refused_even_for_an_allowed_host(http_server, url):
    http_server.route("GET", "/x", body="ok")

    with pytest.raises(RefusedAddress, match="user name or password"):
        outbound.request("GET", url.format(port=http_server.port), allowed_hosts=LOCAL)

    assert http_server.connections == 0


def test_every_trick_url_is_refused_before_anything_reaches_the_server(http_server):
    http_server.route("GET", "/x", body="internal")
    for url in trick_urls(http_server.port):
        with pytest.raises(OutboundError):
            outbound.request("GET", url, allowed_hosts=[ALLOWED], timeout=1)
    assert http_server.connections == 0


@pytest.fixture(scope="module")
def counting_server():
    server = TestHTTPServer()
    server.route("GET", "/x", body="internal")
    yield server
    server.stop()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_generated_trick_urls_never_reach_a_local_server(counting_server, data):
    url = data.draw(trick_url_strategy(counting_server.port))
    with pytest.raises(OutboundError):
        outbound.request("GET", url, allowed_hosts=[ALLOWED], timeout=1)
    assert counting_server.connections == 0, url


def test_an_allow_list_entry_with_a_port_allows_only_that_port(http_server):
    other = TestHTTPServer()
    try:
        http_server.route("GET", "/x", body="ok")
        other.route("GET", "/x", body="other")
        only_first = [f"127.0.0.1:{http_server.port}"]

        assert outbound.request("GET", http_server.url("/x"), allowed_hosts=only_first).text == "ok"
        with pytest.raises(RefusedAddress):
            outbound.request("GET", other.url("/x"), allowed_hosts=only_first)
        assert other.connections == 0
        assert outbound.request("GET", other.url("/x"), allowed_hosts=["127.0.0.1"]).text == "other", (
            "no port: any port"
        )
    finally:
        other.stop()


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/x",
        "http://2130706433:{port}/x",
        "http://[::ffff:127.0.0.1]:{port}/x",
        "http://127.0.0.1:{port}\\@127.0.0.1:{first}/x",
        "file:///etc/passwd",
        "http://u:p@127.0.0.1:{first}/x",
    ],
)
def test_a_redirect_to_a_trick_or_an_unlisted_port_is_refused(http_server, location):
    other = TestHTTPServer()
    try:
        other.route("GET", "/x", body="internal")
        http_server.route(
            "GET", "/jump", status=302, headers={"Location": location.format(port=other.port, first=http_server.port)}
        )

        with pytest.raises(RefusedAddress):
            outbound.request("GET", http_server.url("/jump"), allowed_hosts=[f"127.0.0.1:{http_server.port}"])

        assert other.connections == 0 and [r.path for r in http_server.requests] == ["/jump"]
    finally:
        other.stop()


def test_an_allowed_host_is_connected_to_the_address_that_was_checked(http_server):
    http_server.route("GET", "/x", body="ok")

    answer = outbound.request("GET", f"http://LOCALHOST:{http_server.port}/x", allowed_hosts=["localhost"])

    assert answer.text == "ok" and http_server.requests[0].headers["Host"] == f"localhost:{http_server.port}"
