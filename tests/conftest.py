import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIServer
from django.db import connection

from channels_app import worker
from channels_app.models import Bot, RawEvent, TelephonyChannel
from channels_app.providers import sample_path
from dialogs.models import Dialog

# The live test server accepts bursts of parallel deliveries, as gunicorn's default backlog (2048) would;
# Django's own listen backlog of 10 resets the connections of a 50-request burst.
WSGIServer.request_queue_size = 128

pytest_plugins = [
    "tests.asgi_server",
    "tests.browser",
    "tests.http_server",
    "tests.panel_helpers",
]  # shared fixtures, everywhere

PROJECT_DIR = Path(__file__).parent.parent


FORM = "application/x-www-form-urlencoded"


def raw(name):
    """A provider's sample as its bytes (a form body, say)."""
    return sample_path(name).read_bytes()


def the_dialog(**lookup):
    dialogs = list(Dialog.objects.filter(**lookup))
    assert len(dialogs) == 1, f"{len(dialogs)} dialogs"
    return dialogs[0]


def fixture(name):
    """A provider's sample payload (channels_app/providers/<slug>/samples/<name>), parsed."""
    return json.loads(sample_path(name).read_text())


@pytest.fixture(autouse=True)
def fresh_limits():
    """Rate-limit counters and the channel cache live in memory: each test starts with none."""
    from django.core.cache import cache

    from channels_app import guard

    cache.clear()
    guard.channels.entries.clear()


@pytest.fixture
def bot(db):
    return Bot.objects.create(name="Support line")


@pytest.fixture
def make_channel(bot):
    def make(preset="generic", **fields):
        return TelephonyChannel.from_preset(bot, fields.pop("name", preset.title()), preset, **fields)

    return make


@pytest.fixture
def setera(make_channel):
    return make_channel("setera")


@pytest.fixture
def generic(make_channel):
    return make_channel("generic")


@pytest.fixture
def phonon(make_channel):
    return make_channel("phonon")


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("olena", "Operator@Example.com", "pw-olena-123")


def webhook_path(channel, token=None):
    path = f"/webhooks/telephony/{channel.webhook_id}/"
    return path if token is False else f"{path}?token={token or channel.token}"


def post_event(client, channel, payload, content_type="application/json", token=None, **headers):
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return client.generic("POST", webhook_path(channel, token), body, content_type=content_type, headers=headers)


def deliver(client, channel, *payloads, **kwargs):
    for payload in payloads:
        assert post_event(client, channel, payload, **kwargs).status_code == 202
    process_all()


def process_all():
    """What the event worker does, run here and now until the queue is empty."""
    return worker.drain()


def test_database_url():
    """The DATABASE_URL of the database this test runs on, for processes the test starts."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{settings.get('USER') or 'postgres'}@{host}:{port}/{settings['NAME']}"


test_database_url.__test__ = False


@pytest.fixture
def worker_process(transactional_db):
    """A real event worker: `manage.py process_events` in its own process, on the test database."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "process_events", "--poll", "0.05"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_until(condition, timeout=20, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def queue_is_empty():
    return not RawEvent.objects.filter(available_at__isnull=False).exists()


def run_queued_tasks():
    """Run what django-q2 has queued, in this process, as its worker would; the number run."""
    from django.utils.module_loading import import_string
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker, ran = get_broker(), 0
    while tasks := broker.dequeue():
        for ack_id, payload in tasks:
            task = SignedPackage.loads(payload)
            function = import_string(task["func"]) if isinstance(task["func"], str) else task["func"]
            function(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            ran += 1
    return ran


@pytest.fixture
def task_cluster(transactional_db):
    """A real django-q2 cluster (`manage.py qcluster`) on the test database, for background tasks."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "PYTHONUNBUFFERED": "1",
        "Q_WORKERS": "1",
        "ACTIONS_ALLOWED_HOSTS": "127.0.0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    yield process
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)


@contextmanager
def database_down():
    """The database stops answering (a closed port, or an unopenable file) until the block ends."""
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/connective.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(original)


def run_in_threads(function, items, timeout=60):
    """Run `function(item)` for every item at once, each in its own thread and database connection;
    any exception fails the test."""
    import threading

    errors = []

    def run(item):
        try:
            function(item)
        except Exception as exc:  # surfaced below, in the test's own thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not errors, errors
