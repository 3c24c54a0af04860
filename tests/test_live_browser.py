"""The live board and the incoming-call notice in a real browser: two operators of two bots and a staff user
are logged in to the production (ASGI) server; a provider's events arrive over HTTP and are merged by the real
event worker (`manage.py process_events`)."""

import time
import uuid

import pytest
import requests
from django.contrib.auth import get_user_model

from dialogs.models import Dialog
from tests.browser import screenshot
from tests.conftest import webhook_path
from tests.test_live_stream import cookies_of, setera_event

pytestmark = pytest.mark.django_db(transaction=True)


# Records the desktop notifications a page shows and closes (headless Chromium shows none of its own).
RECORD_NOTIFICATIONS = """
window.__notifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { this.title = title; this.closed = false; window.__notifications.push(this); }
  close() { this.closed = true; }
};
"""


def panel_of(browser, server, user, desktop_alerts=False):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if desktop_alerts:
        context.add_init_script(RECORD_NOTIFICATIONS)
    context.add_cookies([{"name": name, "value": value, "url": server.url} for name, value in cookies_of(user).items()])
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{server.url}/panel/")
    page.wait_for_selector("#live-state.live")
    return page


def post(server, channel, payload):
    answer = requests.post(server.url + webhook_path(channel), json=payload, timeout=10)
    assert answer.status_code == 202, answer.text
    return time.monotonic()


def row(page, pk):
    return page.locator(f"#live-rows tr[data-id='{pk}']")


def notice(page, pk):
    return page.locator(f"#ring-notices .ring[data-id='{pk}']")


def test_the_ringing_call_pops_up_for_its_operator_only_and_moves_from_the_board_to_the_history(
    browser, start_server, worker_process, office
):
    mika = get_user_model().objects.create_user("mika", "mika@example.com", "pw-mika-123")
    office["support"].members.add(mika)
    web, other_node = start_server(), start_server()
    pages = {
        "mika": panel_of(browser, web, mika, desktop_alerts=True),
        "olena": panel_of(browser, web, office["olena"], desktop_alerts=True),
        "root": panel_of(browser, web, office["root"]),
    }
    call_id = uuid.uuid4().hex

    sent = post(web, office["helsinki"], setera_event(call_id, "EARLY", seq=1))
    pages["mika"].wait_for_selector("#ring-notices .ring", timeout=2000)
    assert time.monotonic() - sent < 2, "the pop-up shows within 2 s of the delivery"
    pk = Dialog.objects.get(call_id=call_id).pk
    assert "+358409401234" in notice(pages["mika"], pk).inner_text()
    notice(pages["mika"], pk).locator(".caller-card .first-time").wait_for(timeout=3000)  # the caller card
    row(pages["mika"], pk).wait_for(timeout=2000)
    row(pages["root"], pk).wait_for(timeout=2000)
    assert "ringing" in row(pages["root"], pk).inner_text()
    pages["olena"].wait_for_timeout(500)  # what reached Mika and Root long ago would have reached her too
    assert pages["olena"].locator("#live-rows tr").count() == 0, "another bot's call is not on her board"
    assert pages["olena"].locator("#ring-notices .ring").count() == 0
    assert pages["root"].locator("#ring-notices .ring").count() == 0, "staff see the board; the call is not theirs"
    screenshot(pages["mika"], "live-ringing")
    shown = "window.__notifications.map(n => [n.title, n.closed])"
    assert pages["mika"].evaluate(shown) == [["Incoming call: +358409401234", False]]
    assert pages["olena"].evaluate(shown) == []

    post(web, office["helsinki"], setera_event(call_id, "CONFIRMED", seq=2))
    notice(pages["mika"], pk).wait_for(state="detached", timeout=2000)
    pages["mika"].wait_for_selector(f"#live-rows tr[data-id='{pk}'].connected", timeout=2000)
    assert "talking" in row(pages["mika"], pk).inner_text()
    assert pages["mika"].evaluate(shown) == [["Incoming call: +358409401234", True]], "answered: it closes"
    screenshot(pages["mika"], "live-talking")

    # The stream is cut mid-call: the web node goes away; the hang-up reaches another node meanwhile.
    port = web.port
    web.stop()
    pages["mika"].wait_for_selector("#live-state.reconnecting", timeout=5000)
    post(other_node, office["helsinki"], setera_event(call_id, "TERMINATED", seq=3))
    for _ in range(100):
        if Dialog.objects.filter(pk=pk, ready_at__isnull=False).exists():
            break
        time.sleep(0.05)
    start_server(port=port)

    pages["mika"].wait_for_selector("#live-state.live", timeout=10000)
    row(pages["mika"], pk).wait_for(state="detached", timeout=3000)
    pages["mika"].wait_for_selector(f"#rows tr[data-id='{pk}']", timeout=3000)
    assert "answered" in pages["mika"].locator(f"#rows tr[data-id='{pk}']").inner_text()
    screenshot(pages["mika"], "live-after-reconnect")
    for page in pages.values():
        page.context.close()
