"""Outbound HTTP: timeouts, retries, size caps, and the refusal of private addresses."""

import pytest

from connective import outbound
from connective.outbound import OutboundError, RefusedAddress, is_public

from .http_server import TestHTTPServer

LOCAL = ["127.0.0.1"]


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "192.168.1.1", "172.16.0.1", "127.0.0.1", "0.0.0.0", "169.254.169.254", "100.64.0.1", "224.0.0.1",
     "255.255.255.255", "192.0.2.1", "198.51.100.1", "203.0.113.1", "240.0.0.1", "198.18.0.1", "::1", "::ffff:127.0.0.1",
     "fc00::1", "fe80::1", "64:ff9b::a00:1", "2002:7f00:1::", "ff02::1"],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["1.1.1.1", "8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"])
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

    assert outbound.request("GET", http_server.url("/flaky"), allowed_hosts=LOCAL, retries=2, backoff=0.01).status == 200
    assert outbound.request("GET", http_server.url("/missing"), allowed_hosts=LOCAL, retries=2, backoff=0.01).status == 404
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
        secret = {"headers": {"Authorization": "Bearer rec-secret", "X-Api-Key": "k-1", "Range": "bytes=0-1"},
                  "auth": None}

        assert outbound.request("GET", http_server.url("/rec"), allowed_hosts=LOCAL, **secret).text == "data"
        assert outbound.request("GET", http_server.url("/same"), allowed_hosts=LOCAL, **secret).text == "data"

        moved = other.requests[0].headers
        assert "Authorization" not in moved and "X-Api-Key" not in moved and moved["Range"] == "bytes=0-1"
        assert http_server.requests[-1].headers["Authorization"] == "Bearer rec-secret", "same origin keeps them"
    finally:
        other.stop()
