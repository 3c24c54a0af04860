"""The live stream when things go wrong: a client too slow for the changes, a user whose bots change or who is
deactivated while watching, PostgreSQL's listener connection cut, and a panel that cannot stream at all."""

import time
import uuid

import psycopg
import pytest
from django.db import connection

from dialogs.models import Dialog, LiveUpdate
from tests.browser import log_in, screenshot
from tests.conftest import post_event, process_all
from tests.test_live_stream import mika, open_stream, send, setera_event  # noqa: F401 (mika: a fixture)
from tests.test_server import postgres_params

pytestmark = pytest.mark.django_db(transaction=True)


def kyiv_call(call_id):
    return {"call_id": call_id, "direction": "in", "caller": "+380501112233", "duration": 0}


def test_a_stream_too_far_behind_gets_the_whole_board_instead_of_each_change(start_server, office, mika):
    server = start_server(LIVE_QUEUE_SIZE="5")
    call_ids = [uuid.uuid4().hex for _ in range(30)]
    send(office["helsinki"], *[setera_event(call_id, "EARLY") for call_id in call_ids])
    ringing = list(Dialog.objects.filter(call_id__in=call_ids).values_list("pk", flat=True))
    stream = open_stream(server, mika)

    LiveUpdate.announce(ringing)  # thirty changes at once, for a queue of five

    board = stream.next("board").data
    assert {call["id"] for call in board} == set(ringing)
    assert len(stream.calls()) < 30, "the queue overflowed: the board replaced the changes it could not hold"
    stream.close()


def test_a_stream_follows_its_user_into_another_bot_and_ends_when_the_user_is_deactivated(start_server, office, mika):
    server = start_server(LIVE_VIEWER_REFRESH_SECONDS="1")
    stream = open_stream(server, mika)
    office["support"].members.remove(mika)
    office["sales"].members.add(mika)
    time.sleep(2.5)  # a refresh is due (the heartbeat wakes the stream every second)

    helsinki_id, kyiv_id = uuid.uuid4().hex, uuid.uuid4().hex
    send(office["helsinki"], setera_event(helsinki_id, "EARLY"))
    send(office["kyiv"], kyiv_call(kyiv_id))  # after the Helsinki call: once it arrives, that one was handed out

    stream.next("call", where=lambda event: event.data["id"] == Dialog.objects.get(call_id=kyiv_id).pk)
    assert Dialog.objects.get(call_id=helsinki_id).pk not in {call["id"] for call in stream.calls()}

    mika.is_active = False
    mika.save()
    assert stream.ended.wait(10), "a deactivated user's stream ends"


def test_a_cut_listener_connection_reconnects_and_hands_out_what_committed_meanwhile(start_server, office, mika):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    # The safety poll is a minute away: only the listener can deliver within the test's seconds.
    server = start_server(LIVE_SAFETY_POLL_SECONDS="60", PGAPPNAME="connective-live-test")
    stream = open_stream(server, mika)
    first = listener_pids()
    assert len(first) == 1

    terminate(first)
    call_id = uuid.uuid4().hex
    send(office["helsinki"], setera_event(call_id, "EARLY"))  # committed while no one listens

    started = time.monotonic()
    stream.call(Dialog.objects.get(call_id=call_id).pk, "ringing", timeout=15)
    assert time.monotonic() - started < 10
    assert listener_pids() and listener_pids() != first
    later = uuid.uuid4().hex
    send(office["helsinki"], setera_event(later, "EARLY"))
    stream.call(Dialog.objects.get(call_id=later).pk, "ringing", timeout=3)
    stream.close()


def listener_pids():
    with psycopg.connect(**postgres_params(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'connective-live-test' AND query LIKE 'LISTEN%%'"
        ).fetchall()
    return {pid for (pid,) in rows}


def terminate(pids):
    with psycopg.connect(**postgres_params(), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_panel_that_cannot_stream_polls_the_board(live_server, page, office, settings, client):
    settings.PANEL_POLL_SECONDS = 0.5
    office["root"].set_password("pw-root-123")
    office["root"].save()
    log_in(page, live_server, "root", "pw-root-123")
    page.goto(f"{live_server.url}/panel/")
    # The test server is WSGI: the stream is refused, and the panel says it polls.
    page.wait_for_selector("#live-state.polling")
    call_id = uuid.uuid4().hex

    assert post_event(client, office["helsinki"], setera_event(call_id, "EARLY", seq=1)).status_code == 202
    process_all()
    pk = Dialog.objects.get(call_id=call_id).pk
    page.wait_for_selector(f"#live-rows tr[data-id='{pk}']", timeout=5000)
    screenshot(page, "live-board-polling")
    assert post_event(client, office["helsinki"], setera_event(call_id, "TERMINATED", seq=2)).status_code == 202
    process_all()
    page.wait_for_selector(f"#live-rows tr[data-id='{pk}']", state="detached", timeout=5000)
