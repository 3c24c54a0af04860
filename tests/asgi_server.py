"""The production web server (connective.serve) on the test database, for tests of what needs it: the live stream.

def test_x(asgi_server):
    requests.get(asgi_server.url + "/panel/")
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

PROJECT_DIR = Path(__file__).parent.parent


class ASGIServer:
    def __init__(self, url, process):
        self.url, self.process = url, process

    @property
    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def stop(self):
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_asgi_server(database_url, port=None, **env):
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connective.serve", "--graceful-timeout", "2"],
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "1",
            "LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
            **env,
        },
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the web server exited with {process.returncode}")
        try:  # gunicorn listens before its worker has loaded the application: wait for an answer
            requests.get(f"http://127.0.0.1:{port}/health/", timeout=5)
            return ASGIServer(f"http://127.0.0.1:{port}", process)
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the web server did not start within 30 s")


TEST_SETTINGS = {"LIVE_POLL_SECONDS": "0.05", "LIVE_HEARTBEAT_SECONDS": "1"}


@pytest.fixture
def start_server(transactional_db):
    """Start ASGI servers on the test database (again on a port of an earlier one, to restart it)."""
    from tests.conftest import test_database_url

    servers = []

    def start(port=None, **env):
        servers.append(start_asgi_server(test_database_url(), port, **TEST_SETTINGS, **env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def asgi_server(start_server):
    return start_server()
