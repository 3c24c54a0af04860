"""The promise of #14 through the whole pipeline, whatever a payload contains: hostile values in any mapped
field of four presets, delivered over HTTP to a real server beside ordinary calls on two bots, processed by
the real worker.

- every ordinary call is exactly one correct dialog;
- every hostile delivery is answered 4xx, or ends merged, or ends failed/rejected with a reason;
- no delivery stays received/processing once the worker has drained (transient failures are retried: the
  test lets their backoff and leases run out at once, within EVENT_MAX_ATTEMPTS);
- afterwards the panel, the API and the admin answer every page, for staff and for an operator.
"""

import http.client
import itertools
import json
import socket
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests
from django.apps import apps
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app import guard, providers, worker
from channels_app.models import Bot, RawEvent, TelephonyChannel
from dialogs.models import Dialog

from .conftest import fixture, wait_until
from .hostile_payloads import CORPUS, HOSTILE_KEYS, PRESETS, hostile_deliveries

MAX_ATTEMPTS = 3
PENDING = (RawEvent.State.RECEIVED, RawEvent.State.PROCESSING)
MERGED = {RawEvent.State.PROCESSED, RawEvent.State.DUPLICATE, RawEvent.State.IGNORED}
GAVE_A_REASON = {RawEvent.State.FAILED, RawEvent.State.REJECTED}

# What each preset's sample must become (the same values as the presets' own tests).
EXPECTED = {
    "generic": {
        "direction": "in",
        "status": "answered",
        "caller_number": "+380501234567",
        "callee_number": "+380441234567",
        "duration": 62,
        "recording_url": "https://pbx.example/rec/c-1001.mp3",
        "transcript": "Hello, I would like to check my order.",
    },
    "setera": {
        "direction": "in",
        "status": "answered",
        "caller_number": "+35840940XXXX",
        "callee_number": "+35894272XXXX",
        "duration": pytest.approx(4.048),
        "started_at": datetime(2021, 9, 30, 10, 36, 19, 315000, tzinfo=UTC),
    },
    "phonon": {
        "direction": "in",
        "status": "answered",
        "caller_number": "+919876543210",
        "callee_number": "+918045671234",
        "duration": 95,
        "started_at": datetime(2024, 3, 5, 10, 15, 2, tzinfo=UTC),
        "recording_url": "https://recordings.phonon.example/3f8e2c1a.mp3",
    },
    "binotel": {
        "direction": "in",
        "status": "answered",
        "caller_number": "+380441234567",
        "callee_number": "+380447654321",
        "duration": 95,
        "started_at": datetime.fromtimestamp(1795514400, UTC),
    },
}


class Stage:
    """Two bots, four channels, a staff user and an operator of the first bot; a real server in front."""

    def __init__(self, base_url, django_user_model):
        self.base_url = base_url
        sales, support = Bot.objects.create(name="Sales"), Bot.objects.create(name="Support")
        self.sales = sales
        self.channels = {
            "generic": TelephonyChannel.from_preset(sales, "Kyiv line", "generic"),
            "setera": TelephonyChannel.from_preset(sales, "Helsinki line", "setera"),
            "phonon": TelephonyChannel.from_preset(support, "Mumbai line", "phonon"),
            "binotel": TelephonyChannel.from_preset(
                support, "Lviv line", "binotel", advanced_config=binotel_from_anywhere()
            ),
        }
        self.root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
        self.olena = django_user_model.objects.create_user("olena", "olena@example.com", "pw-olena-123")
        sales.members.add(self.olena)
        self.http = requests.Session()
        self.numbers = itertools.count()

    def reset(self):
        """Each example starts with no dialog and no event (rows a broken dialog leaves included: plain
        DELETEs, which load nothing)."""
        cache.clear()
        guard.channels.entries.clear()
        clear_what_the_pipeline_made()

    def deliver(self, slug, body, content_type, delivery):
        channel = self.channels[slug]
        return self.http.post(
            f"{self.base_url}/webhooks/telephony/{channel.webhook_id}/",
            data=body,
            timeout=60,
            headers={"Content-Type": content_type, "X-Webhook-Token": channel.token, "X-Delivery": delivery},
        )

    def ordinary_calls(self):
        """One real call per channel: [(slug, call id, [(body, content type)])]."""
        number = next(self.numbers)
        calls = []
        for slug, preset in PRESETS.items():
            call_id = f"ordinary-{number}-{slug}"
            if slug == "setera":
                events = [setera_event(n, call_id) for n in range(3)]
            else:
                events = [preset.ordinary(call_id)]
            calls.append((slug, call_id, events))
        return calls


def binotel_from_anywhere():
    """Binotel's preset as it is, but for its address allow-list: the test server's client is 127.0.0.1."""
    config = json.loads(json.dumps(providers.load("binotel")["advanced_config"]))
    config["authentication"] = {"scheme": "token"}
    return config


def setera_event(number, call_id):
    event = {**fixture("setera_incoming.json")[number], "call_id": call_id}
    return json.dumps(event).encode(), "application/json"


def clear_what_the_pipeline_made():
    with transaction.atomic(), connection.cursor() as cursor:
        for model in produced_models():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def produced_models():
    """Every table the pipeline writes into (events, dialogs, their feed, recordings, enrichment runs)."""
    models = [RawEvent]
    for label in ("dialogs", "recordings", "actions"):
        models += [
            model
            for model in apps.get_app_config(label).get_models(include_auto_created=True)
            if model._meta.model_name not in ("topic", "action")
        ]
    return models


def work_until_settled():
    """What `process_events` does, with time sped up: process until nothing is available; a crash of the
    worker's loop is survived as worker.run survives it; a lease or a backoff then runs out at once.
    Bounded: each round costs every pending event an attempt, and EVENT_MAX_ATTEMPTS ends them."""
    for _ in range(MAX_ATTEMPTS + 2):
        try:
            worker.drain()
        except Exception:  # worker.run logs it and goes on; the claimed events come back after their lease
            pass
        pending = RawEvent.objects.filter(state__in=PENDING)
        if not pending.exists():
            return
        pending.update(available_at=timezone.now())


def outcomes_by_delivery():
    outcomes = {}
    for headers, state, error in RawEvent.objects.values_list("headers", "state", "error"):
        outcomes.setdefault(headers.get("X-Delivery"), []).append((state, error))
    return outcomes


def ordinary_call_breaches(stage, calls):
    """How the ordinary calls are not exactly one correct, shown dialog each."""
    breaches = []
    for slug, call_id, _ in calls:
        dialogs = list(Dialog.objects.filter(channel=stage.channels[slug], call_id=call_id))
        if len(dialogs) != 1:
            breaches.append(f"ordinary {slug} call: {len(dialogs)} dialogs; its events: {events_of(call_id)}")
            continue
        shown = {name: getattr(dialog, name) for dialog in dialogs for name in EXPECTED[slug]}
        if shown != EXPECTED[slug] or dialogs[0].ready_at is None:
            breaches.append(f"ordinary {slug} call: {shown}, ready_at {dialogs[0].ready_at}")
    return breaches


def ordinary_delivery_breaches(outcomes):
    """An ordinary delivery that did not end merged: another delivery held it back."""
    return [
        f"ordinary delivery {label} ended {state} {error[:200]!r}"
        for label, ended in outcomes.items()
        if str(label).startswith("ordinary")
        for state, error in ended
        if state not in MERGED
    ]


def events_of(call_id):
    return [
        (state, error[:300])
        for headers, state, error in RawEvent.objects.values_list("headers", "state", "error")
        if call_id in str(headers.get("X-Delivery"))
    ]


def hostile_breaches(answers, outcomes):
    """How the hostile deliveries did not end in a 4xx with a JSON error, merged, or failed with a reason.
    `answers`: {label: (description, response)}."""
    breaches = []
    for label, (description, response) in answers.items():
        what = f"{description}: answered {response.status_code}"
        if response.status_code >= 500:
            breaches.append(f"{what} {response.text[:200]!r}")
        elif response.status_code >= 400:
            if not response.headers.get("Content-Type", "").startswith("application/json") or not response.json().get(
                "error"
            ):
                breaches.append(f"{what} without a JSON error")
        elif not outcomes.get(label):
            breaches.append(f"{what} but nothing was stored")
        else:
            breaches += [
                f"{what}, ended {state} {error[:200]!r}"
                for state, error in outcomes[label]
                if not ended_well(state, error)
            ]
    return breaches


def ended_well(state, error):
    """Merged, or failed/rejected with a reason of its own. What a payload contains is no transient
    trouble: a delivery the worker gave up on after retrying it (or after crashing on its batch) was
    acknowledged and then never merged, and its reason is the retries', not the delivery's."""
    return state in MERGED or (state in GAVE_A_REASON and error.strip() != "" and not error.startswith("gave up"))


def page_breaches(stage, ordinary_calls):
    """The pages that do not answer as they should: the panel, the API and the admin, for staff and for the
    operator of the first bot; every page of every dialog, and the admin page of every dialog a hostile
    delivery made. Which dialogs exist is read without loading one (a broken dialog must not hide)."""
    rows = list(Dialog.objects.values_list("pk", "channel__bot_id", "ready_at", "call_id"))
    ordinary_ids = {call_id for _, call_id, _ in ordinary_calls}
    admin_pages = ["/admin/dialogs/dialog/", "/admin/channels_app/rawevent/"]
    admin_pages += [f"/admin/dialogs/dialog/{pk}/change/" for pk, *_, call_id in rows if call_id not in ordinary_ids]
    breaches = []
    for user in (stage.root, stage.olena):
        expected = dict.fromkeys(("/panel/", "/api/dialogs/", "/panel/new-rows/?newer_than="), 200)
        for pk, bot_id, ready_at, _ in rows:
            may_see = user.is_staff or bot_id == stage.sales.pk
            expected[f"/panel/dialogs/{pk}/"] = 200 if may_see else 404  # calls in progress open from the board
            expected[f"/api/dialogs/{pk}/"] = 200 if may_see and ready_at is not None else 404
        # Staff see the admin; an operator is sent to its login, never shown an error.
        expected.update(dict.fromkeys(admin_pages if user.is_staff else admin_pages[:2], 200 if user.is_staff else 302))
        browser = Client(raise_request_exception=False)
        browser.force_login(user)
        for url, status in expected.items():
            response = browser.get(url)
            if response.status_code != status:
                error = getattr(response, "exc_info", None)
                breaches.append(
                    f"{user.username} GET {url}: {response.status_code}"
                    + (f" {error[0].__name__}: {error[1]}"[:300] if error else "")
                )
    return breaches


def describe(slug, tokens, key):
    shown = {path: token if len(token) < 40 else f"{token[:30]}…({len(token)} chars)" for path, token in tokens.items()}
    return f"{slug} {shown}" + (f" key {key[:30]}" if key else "")


@pytest.fixture
def stage(transactional_db, live_server, django_user_model, settings):
    settings.EVENT_MAX_ATTEMPTS = MAX_ATTEMPTS
    return Stage(live_server.url, django_user_model)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile=st.lists(hostile_deliveries(), min_size=1, max_size=3), data=st.data())
def test_whatever_a_payload_contains_ordinary_calls_are_kept_and_every_delivery_ends_with_a_reason(
    stage, hostile, data
):
    stage.reset()
    calls = stage.ordinary_calls()
    deliveries = [
        (f"{call_id}#{n}", slug, body, slug) for slug, call_id, events in calls for n, body in enumerate(events)
    ]
    deliveries += [
        (
            f"hostile-{n}",
            slug,
            PRESETS[slug].body(f"hostile-{n}-{next(stage.numbers)}", tokens, key),
            describe(slug, tokens, key),
        )
        for n, (slug, tokens, key) in enumerate(hostile)
    ]
    answers = {}
    order = data.draw(st.permutations(range(len(deliveries))), label="order of deliveries")
    for label, slug, (body, content_type), description in (deliveries[n] for n in order):
        answers[label] = (description, stage.deliver(slug, body, content_type, label))
    for label, (slug, response) in answers.items():
        if label.startswith("ordinary"):
            assert response.status_code in (200, 202), f"{label} ({slug}): {response.status_code} {response.text[:200]}"

    work_until_settled()

    assert not RawEvent.objects.filter(state__in=PENDING).exists(), (
        "a delivery is still waiting after the worker drained"
    )
    hostile_answers = {label: answer for label, answer in answers.items() if label.startswith("hostile")}
    outcomes = outcomes_by_delivery()
    breaches = hostile_breaches(hostile_answers, outcomes) + ordinary_delivery_breaches(outcomes)
    breaches += ordinary_call_breaches(stage, calls)
    assert not breaches, "\n".join(breaches)
    assert not (breaches := page_breaches(stage, calls)), "\n".join(breaches)


@pytest.fixture
def quick_worker(request, monkeypatch, transactional_db):
    """`manage.py process_events` in its own process, with leases short enough for a test."""
    monkeypatch.setenv("EVENT_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    monkeypatch.setenv("EVENT_LEASE_SECONDS", "1")
    return request.getfixturevalue("worker_process")


def test_the_real_worker_process_keeps_the_promise_for_every_value_of_the_corpus(stage, quick_worker):
    """Every hostile value of the corpus once, each in some mapped field of some preset (round robin), and
    every hostile key, among the ordinary calls (sent several times); processed by `manage.py process_events`."""
    stage.reset()
    calls = stage.ordinary_calls()
    slugs = itertools.cycle(PRESETS)
    answers = {}
    for n, token in enumerate(CORPUS + HOSTILE_KEYS):
        slug = next(slugs)
        preset = PRESETS[slug]
        paths = preset.mapped_paths()
        key = token if n >= len(CORPUS) else None
        tokens = {} if key else {paths[n % len(paths)]: token}
        body, content_type = preset.body(f"hostile-{n}", tokens, key)
        answers[f"hostile-{n}"] = (describe(slug, tokens, key), stage.deliver(slug, body, content_type, f"hostile-{n}"))
        if n % 8 == 0:  # ordinary calls among the hostile ones
            slug, call_id, events = calls[(n // 8) % len(calls)]
            for number, (body, content_type) in enumerate(events):
                stage.deliver(slug, body, content_type, f"{call_id}#{number}-{n}")
    for slug, call_id, events in calls:
        for number, (body, content_type) in enumerate(events):
            response = stage.deliver(slug, body, content_type, f"{call_id}#{number}")
            assert response.status_code in (200, 202), (slug, response.status_code, response.text[:200])

    def settled():
        waiting = RawEvent.objects.filter(state=RawEvent.State.RECEIVED, available_at__gt=timezone.now())
        waiting.update(available_at=timezone.now())  # a transient failure's backoff runs out at once
        return not RawEvent.objects.filter(state__in=PENDING).exists()

    wait_until(settled, timeout=60, message="the worker to settle every delivery")
    outcomes = outcomes_by_delivery()
    breaches = (
        hostile_breaches(answers, outcomes)
        + ordinary_delivery_breaches(outcomes)
        + ordinary_call_breaches(stage, calls)
    )
    breaches += page_breaches(stage, calls)
    assert not breaches, "\n".join(breaches)


# -- The "500 instead of a clear 4xx" list, one by one -----------------------------------------------------


def deep_form_key(depth):
    return "callDetails" + "[a]" * depth


CLEAR_REFUSALS = {
    "a 5000-digit integer (JSON)": (
        "generic",
        b'{"call_id": "c-1", "call_duration": ' + b"1" * 5000 + b"}",
        "application/json",
        "",
    ),
    "a 5000-digit integer as the whole body": ("generic", b"1" * 5000, "application/json", ""),
    "bracket keys 1,000 deep (form)": (
        "binotel",
        f"requestType=apiCallCompleted&{deep_form_key(1000)}=1".encode(),
        "application/x-www-form-urlencoded",
        "",
    ),
    "bracket keys 5,000 deep (form)": (
        "binotel",
        f"{deep_form_key(5000)}=1".encode(),
        "application/x-www-form-urlencoded",
        "",
    ),
    "JSON nested 100,000 deep": ("generic", b"[" * 100_000 + b"]" * 100_000, "application/json", ""),
    "over 100 query parameters": (
        "generic",
        b'{"call_id": "c-1"}',
        "application/json",
        "&".join(f"p{n}=1" for n in range(150)),
    ),
    "a Content-Type over 200 characters": ("generic", b'{"call_id": "c-1"}', "application/json; x=" + "a" * 300, ""),
}


@pytest.mark.parametrize("case", list(CLEAR_REFUSALS))
def test_a_body_or_request_we_cannot_take_is_a_clear_4xx_never_a_5xx(stage, case):
    slug, body, content_type, query = CLEAR_REFUSALS[case]
    channel = stage.channels[slug]
    url = f"{stage.base_url}/webhooks/telephony/{channel.webhook_id}/?{query}"
    response = requests.post(
        url, data=body, timeout=60, headers={"Content-Type": content_type, "X-Webhook-Token": channel.token}
    )
    stored = list(RawEvent.objects.values_list("state", "error"))

    assert response.status_code < 500, f"{case}: {response.status_code} {response.text[:300]}"
    if response.status_code < 400:  # taken after all: then it must end with a reason, like any delivery
        work_until_settled()
        assert [state for state, _ in RawEvent.objects.values_list("state", "error")] != ["received"]
    else:
        assert response.json()["error"], case
        assert all(state == RawEvent.State.REJECTED and error for state, error in stored), stored


def test_over_100_query_parameters_without_a_token_is_a_clear_4xx(stage):
    channel = stage.channels["generic"]
    query = "&".join(f"p{n}=1" for n in range(150))
    response = requests.post(
        f"{stage.base_url}/webhooks/telephony/{channel.webhook_id}/?{query}", json={"call_id": "c-1"}, timeout=30
    )
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert response.json()["error"]


def test_a_chunked_body_without_content_length_is_stored_or_answered_411(stage):
    """Django's test client always sets a length; a provider's HTTP library may stream instead."""
    channel = stage.channels["generic"]
    address = urlsplit(stage.base_url)
    body = json.dumps({"call_id": "chunked-1", "caller": "0501234567", "status": "PROPER", "direction": "in"}).encode()
    with socket.create_connection((address.hostname, address.port), timeout=30) as raw:
        raw.sendall(
            f"POST /webhooks/telephony/{channel.webhook_id}/ HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"X-Webhook-Token: {channel.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n".encode()
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )
        response = http.client.HTTPResponse(raw)
        response.begin()
        answer = response.read()

    if response.status == 411:
        assert json.loads(answer)["error"]
        assert not RawEvent.objects.exists()
        return
    assert response.status == 202, f"{response.status} {answer[:300]!r}"
    worker.drain()
    assert Dialog.objects.get().call_id == "chunked-1"
