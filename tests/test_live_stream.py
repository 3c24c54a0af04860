"""The live stream over the production (ASGI) server: who receives which call, when, and what a reconnect
recovers. The events come over HTTP and are merged by the real worker code; the server is another process."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from dialogs.models import Dialog, LiveUpdate
from tests.conftest import post_event, process_all
from tests.sse import Stream

pytestmark = pytest.mark.django_db(transaction=True)


def setera_event(call_id, state, operator="", seq=1, remote="+358409401234"):
    return {
        "seq_num": seq,
        "call_id": call_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "state": state,
        "direction": "INCOMING",
        "local_user_id": operator,
        "local_number": "+358942721234",
        "remote_number": remote,
    }


def send(channel, *payloads):
    client = Client()
    for payload in payloads:
        assert post_event(client, channel, payload).status_code == 202
    process_all()


def cookies_of(user):
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def open_stream(server, user, **kwargs):
    stream = Stream(f"{server.url}/panel/live/stream/", cookies=cookies_of(user), **kwargs)
    assert stream.response.status_code == 200, stream.response.text
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    stream.next("ready")
    return stream


@pytest.fixture
def mika(office):
    """An operator of the Support bot (the Helsinki line)."""
    user = get_user_model().objects.create_user("mika", "mika@example.com", "pw-mika-123")
    office["support"].members.add(user)
    return user


def test_a_ringing_call_reaches_the_operator_it_names_and_staff_but_never_another_bots_operator(
    asgi_server, office, mika
):
    colleague = get_user_model().objects.create_user("aino", "aino@example.com", "pw-aino-123")
    office["support"].members.add(colleague)
    streams = {
        name: open_stream(asgi_server, user)
        for name, user in (("olena", office["olena"]), ("mika", mika), ("aino", colleague), ("root", office["root"]))
    }
    call_id = uuid.uuid4().hex

    send(office["helsinki"], setera_event(call_id, "EARLY", operator="mika@example.com"))
    dialog = Dialog.objects.get(call_id=call_id)

    to_mika = streams["mika"].call(dialog.pk, "ringing")
    assert to_mika["notify"] is True and to_mika["customer_number"] == "+358409401234"
    assert to_mika["operator"] == "mika@example.com" and to_mika["channel"] == "Helsinki line"
    assert streams["aino"].call(dialog.pk, "ringing")["notify"] is False, "the call names Mika: not Aino's pop-up"
    assert streams["root"].call(dialog.pk, "ringing")["notify"] is False, "staff see it on the board"
    assert "bot_id" not in to_mika and "operator_user_id" not in to_mika

    # Olena's stream is alive (her own bot's call reaches her) and never carried the Support call.
    mine = uuid.uuid4().hex
    send(office["helsinki"], setera_event(mine, "EARLY"))  # Support again: still not Olena's
    kyiv_call = {"call_id": "k-" + mine, "direction": "in", "caller": "+380501112233", "duration": 0}
    send(office["kyiv"], kyiv_call)
    kyiv = Dialog.objects.get(call_id="k-" + mine)
    streams["olena"].next("call", where=lambda event: event.data["id"] == kyiv.pk)
    assert {call["id"] for call in streams["olena"].calls()} == {kyiv.pk}
    for stream in streams.values():
        stream.close()


def test_a_ringing_call_that_names_no_operator_concerns_every_member_of_its_bot(asgi_server, office, mika):
    stream = open_stream(asgi_server, mika)
    call_id = uuid.uuid4().hex

    send(office["helsinki"], setera_event(call_id, "EARLY"))

    assert stream.call(Dialog.objects.get(call_id=call_id).pk, "ringing")["notify"] is True
    stream.close()


def test_answer_and_hang_up_move_the_call_from_the_board_to_the_history(asgi_server, office, mika):
    stream = open_stream(asgi_server, mika)
    call_id = uuid.uuid4().hex

    send(office["helsinki"], setera_event(call_id, "EARLY", seq=1))
    pk = Dialog.objects.get(call_id=call_id).pk
    assert stream.call(pk, "ringing")["in_history"] is False
    send(office["helsinki"], setera_event(call_id, "CONFIRMED", seq=2))
    connected = stream.call(pk, "connected")
    assert connected["notify"] is False and connected["answered_at"]
    send(office["helsinki"], setera_event(call_id, "TERMINATED", seq=3))
    ended = stream.call(pk, "ended")
    assert ended["in_history"] is True and ended["status"] == "answered"
    stream.close()


def test_a_stream_cut_mid_call_resumes_with_the_hang_up_it_missed(asgi_server, office, mika):
    stream = open_stream(asgi_server, mika)
    call_id = uuid.uuid4().hex
    send(office["helsinki"], setera_event(call_id, "EARLY", seq=1))
    pk = Dialog.objects.get(call_id=call_id).pk
    stream.call(pk, "ringing")
    resume_after = stream.last_event_id
    stream.close()

    send(office["helsinki"], setera_event(call_id, "CONFIRMED", seq=2), setera_event(call_id, "TERMINATED", seq=3))

    again = open_stream(asgi_server, mika, last_event_id=resume_after)
    replayed = [event.data for event in again.seen if event.kind == "call" and event.data["id"] == pk]
    assert replayed and replayed[-1]["phase"] == "ended", again.seen
    assert not [event for event in again.seen if event.kind == "board"], "a short blip is replayed, not reloaded"
    again.close()


def test_a_stream_away_longer_than_the_changes_kept_gets_the_whole_board(asgi_server, office, mika):
    send(office["helsinki"], setera_event(uuid.uuid4().hex, "EARLY"))
    ringing = Dialog.objects.get(channel=office["helsinki"])
    for _ in range(3):
        LiveUpdate.announce([ringing.pk])
    LiveUpdate.prune(keep=1)

    stream = Stream(f"{asgi_server.url}/panel/live/stream/", cookies=cookies_of(mika), last_event_id=1)
    board = stream.next("board").data
    assert [call["id"] for call in board] == [ringing.pk] and board[0]["notify"] is True
    stream.next("ready")
    stream.close()


def test_the_stream_refuses_who_is_not_logged_in_and_tells_a_wsgi_server_to_poll(asgi_server, office):
    assert requests.get(f"{asgi_server.url}/panel/live/stream/", timeout=5).status_code == 403
    client = Client()
    client.force_login(office["olena"])
    # In a thread of its own: a browser test's Playwright may have left an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        answer = thread.submit(client.get, "/panel/live/stream/").result()
    assert answer.status_code == 503, "under WSGI a stream would hold a thread: the panel polls instead"


def test_the_polled_board_holds_only_calls_in_progress_the_user_may_see(client, office, mika):
    send(office["helsinki"], setera_event("ringing-1", "EARLY"))
    send(office["helsinki"], setera_event("done-1", "EARLY", seq=1), setera_event("done-1", "TERMINATED", seq=2))

    client.force_login(mika)
    board = client.get("/panel/live/board/").json()
    assert [call["id"] for call in board["calls"]] == [Dialog.objects.get(call_id="ringing-1").pk]
    assert board["cursor"] == LiveUpdate.latest_id()
    client.force_login(office["olena"])
    assert client.get("/panel/live/board/").json()["calls"] == []


def test_an_operator_opens_a_call_in_progress_from_the_board(client, office, mika):
    send(office["helsinki"], setera_event("ringing-2", "EARLY"))
    pk = Dialog.objects.get(call_id="ringing-2").pk
    client.force_login(mika)
    assert client.get(f"/panel/dialogs/{pk}/").status_code == 200
    client.force_login(office["olena"])
    assert client.get(f"/panel/dialogs/{pk}/").status_code == 404
