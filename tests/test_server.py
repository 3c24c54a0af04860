"""The production web server (connective.serve: gunicorn, uvicorn workers, connective.asgi) as clients meet it:
open live streams cost no thread and no database connection each, the webhook keeps its guards behind it, static
files come from it, it believes no forwarded header, and `bin/run` starts exactly it."""

import json
import os
import re
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.db import connection

from tests.asgi_server import free_port
from tests.conftest import PROJECT_DIR, webhook_path
from tests.sse import Stream
from tests.test_live_stream import cookies_of

pytestmark = pytest.mark.django_db(transaction=True)

SERVER_NAME = "connective-test-web"


def open_raw_stream(server, cookies):
    """A stream held open by a bare socket: cheap enough to open dozens."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    raw.sendall(f"GET /panel/live/stream/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
    received = b""
    while b"event: ready" not in received:
        chunk = raw.recv(65536)
        assert chunk, f"the stream closed: {received[:300]!r}"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:300]
    return raw


def server_connections():
    with psycopg.connect(**postgres_params(), autocommit=True) as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [SERVER_NAME]
        ).fetchone()[0]


def postgres_params():
    settings = connection.settings_dict
    return {
        "dbname": "postgres",
        "user": settings["USER"] or "postgres",
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
    }


def test_open_streams_hold_no_thread_and_no_database_connection_of_their_own(start_server, office, generic):
    server = start_server(WEB_THREADS="2", PGAPPNAME=SERVER_NAME)
    cookies = cookies_of(office["olena"])
    streams = [open_raw_stream(server, cookies) for _ in range(40)]
    try:
        # Two threads serve the pages: were a stream to hold one, nothing below would be answered.
        with ThreadPoolExecutor(4) as pool:
            pages = list(
                pool.map(lambda _: requests.get(f"{server.url}/panel/", cookies=cookies, timeout=10), range(4))
            )
        assert [page.status_code for page in pages] == [200] * 4
        delivery = requests.post(
            server.url + webhook_path(generic), json={"call_id": "c-server", "caller": "+380501234567"}, timeout=10
        )
        assert delivery.status_code == 202, delivery.text
        if connection.vendor == "postgresql":
            # The hub's reading threads, its listener and the page threads; not one per stream.
            assert server_connections() <= 10
    finally:
        for stream in streams:
            stream.close()


def test_the_webhook_keeps_its_guards_behind_the_production_server(asgi_server, generic, settings):
    url = asgi_server.url + webhook_path(generic)
    odd_charset = requests.post(
        url, data=b"call_id=1", headers={"Content-Type": "application/x-www-form-urlencoded; charset=bz2_codec"}
    )
    assert odd_charset.status_code == 400 and "send UTF-8" in odd_charset.json()["error"]

    too_big = requests.post(url, data=b"{" + b" " * settings.WEBHOOK_MAX_BODY_BYTES + b"}", headers=JSON)
    assert too_big.status_code == 413

    bad_token = requests.post(asgi_server.url + webhook_path(generic, token="wrong"), data=b"{}", headers=JSON)
    assert bad_token.status_code == 401


JSON = {"Content-Type": "application/json"}


def test_a_forwarded_for_header_does_not_change_who_the_sender_is(asgi_server, make_channel):
    channel = make_channel("generic")
    channel.advanced_config["authentication"] = {"scheme": "source_ip", "allowed_networks": ["194.88.218.116"]}
    channel.save()

    forged = requests.post(
        asgi_server.url + webhook_path(channel, False),
        data=json.dumps({"call_id": "c-forged"}),
        headers={**JSON, "X-Forwarded-For": "194.88.218.116", "X-Real-IP": "194.88.218.116"},
    )

    assert forged.status_code == 401 and "from 127.0.0.1 are not allowed" in forged.json()["error"]


def test_static_files_come_from_the_server_itself(asgi_server):
    stylesheet = requests.get(f"{asgi_server.url}/static/admin/css/base.css", timeout=10)

    assert stylesheet.status_code == 200 and stylesheet.headers["Content-Type"].startswith("text/css")
    assert "body" in stylesheet.text


def test_bin_run_starts_the_production_server_its_workers_and_the_demo(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(tmp_path / "run.log", "w+")
    run = subprocess.Popen(
        ["bin/run"], cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/health/", timeout=2).status_code == 200, log)
        output = read(log)
        assert "Using worker: uvicorn_worker.UvicornWorker" in output, "gunicorn with uvicorn workers, not runserver"

        browser = logged_in_as_demo_admin(base)
        stream = Stream(f"{base}/panel/live/stream/", cookies=browser.cookies.get_dict())
        stream.next("ready", timeout=20)

        url, token = re.search(r"channel 'Main telephony': (\S+) with header X-Webhook-Token: (\S+)", output).groups()
        call = {"call_id": "c-demo-1", "caller": "+380501234567", "status": "PROPER", "direction": "in"}
        delivered = requests.post(
            url.replace("http://127.0.0.1:8000", base), json=call, headers={"X-Webhook-Token": token}
        )
        assert delivered.status_code == 202, delivered.text
        # The event worker bin/run started merged it; the stream pushed it to the panel.
        pushed = stream.next("call", timeout=30, where=lambda event: event.data["customer_number"] == "+380501234567")
        assert pushed.data["phase"] == "ended"
        stream.close()
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=30)


def logged_in_as_demo_admin(base):
    browser = requests.Session()
    browser.get(f"{base}/admin/login/", timeout=10)
    answer = browser.post(
        f"{base}/admin/login/?next=/panel/",
        data={"username": "admin", "password": "admin", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": f"{base}/admin/login/"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.url.endswith("/panel/"), answer.url
    return browser


def wait_for(condition, log, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"bin/run did not serve within {timeout} s:\n{read(log)[-3000:]}")


def read(log):
    log.flush()
    log.seek(0)
    return log.read()
