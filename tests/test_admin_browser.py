"""The administrator's flows in a real browser (Debian's Chromium, Playwright) against a live server with a
real event worker."""

import pytest
import requests

from channels_app.models import Bot, RawEvent, TelephonyChannel
from dialogs.models import Dialog

from .browser import log_in, screenshot
from .conftest import fixture, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_administrator_sets_up_a_channel_tests_it_and_fixes_a_mapping(
    live_server, browser, django_user_model, worker_process, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    bot = Bot.objects.create(name="Support")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(20000)
    log_in(page, live_server, "root", "pw-root-123")

    # Create a channel from a preset, from the bot's page.
    page.goto(f"{live_server.url}/admin/channels_app/bot/{bot.pk}/change/")
    page.click("#create-channel")
    page.fill("#id_name", "Helsinki office")
    page.select_option("#id_preset", "setera")
    assert '"EARLY": "ringing"' in page.input_value("#id_advanced_config"), "the preset fills Advanced Config"
    page.click("input[name=_continue]")
    page.wait_for_selector("#webhook-url")
    channel = TelephonyChannel.objects.get(name="Helsinki office")
    assert channel.default_country_code == "+358"

    # Copy the webhook URL.
    page.click("button[data-copy=webhook-url]")
    assert page.evaluate("navigator.clipboard.readText()") == channel.webhook_url
    screenshot(page, "admin-channel")

    # Test: a synthetic call through the real endpoint and worker.
    page.click("#test-channel")
    page.wait_for_selector("#test-verdict")
    assert page.inner_text("#test-verdict") == "The test call made a test dialog."
    page.click("#test-dialog")
    page.wait_for_selector("text=Change dialog")
    assert Dialog.objects.get().is_test

    # An invalid config is refused with the failing path next to the field.
    page.goto(f"{live_server.url}/admin/channels_app/telephonychannel/{channel.pk}/change/")
    config = page.input_value("#id_advanced_config").replace('"CONFIRMED": "connected"', '"CONFIRMED": "conected"')
    page.fill("#id_advanced_config", config)
    page.click("input[name=_continue]")
    page.wait_for_selector(".errorlist")
    assert "status_mapping.CONFIRMED: 'conected' is not one of" in page.inner_text(".errorlist")

    # A real call whose mapping is wrong: preview it, fix the mapping, reprocess it.
    channel.advanced_config["field_mapping"]["call_id"] = "callId"
    channel.save()
    url = f"{live_server.url}/webhooks/telephony/{channel.webhook_id}/?token={channel.token}"
    assert requests.post(url, json=fixture("setera_incoming.json"), timeout=10).status_code == 202
    wait_until(lambda: RawEvent.objects.filter(state="failed").exists(), message="the event to fail its mapping")
    event = RawEvent.objects.get(state="failed")
    page.goto(f"{live_server.url}/admin/channels_app/rawevent/?channel__id__exact={channel.pk}")
    screenshot(page, "admin-event-log")
    page.click(f"a[href*='/rawevent/{event.pk}/change/']")
    page.click("#preview-mapping")
    page.wait_for_selector("#mapping-error")
    assert "field_mapping.call_id" in page.inner_text("#mapping-error")

    channel.advanced_config["field_mapping"]["call_id"] = "call_id"
    channel.save()
    page.goto(f"{live_server.url}/admin/channels_app/rawevent/?channel__id__exact={channel.pk}")
    page.check(f"input[name=_selected_action][value='{event.pk}']")
    page.select_option("select[name=action]", "reprocess")
    page.click("button[name=index]")
    page.wait_for_selector("text=events queued again")
    wait_until(lambda: Dialog.objects.filter(call_id="tvNAazZlEwDZTCO74Pk95Q").exists(), message="the reprocessed call")
    assert Dialog.objects.get(call_id="tvNAazZlEwDZTCO74Pk95Q").status == "answered"
    context.close()


def test_an_edit_of_advanced_config_after_choosing_a_preset_is_saved(live_server, browser, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    channel = TelephonyChannel.from_preset(Bot.objects.create(name="Support"), "Main line", "generic")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20000)
    log_in(page, live_server, "root", "pw-root-123")

    page.goto(f"{live_server.url}/admin/channels_app/telephonychannel/{channel.pk}/change/")
    page.select_option("#id_preset", "setera")
    config = page.input_value("#id_advanced_config")
    assert '"EARLY": "ringing"' in config, "the preset fills Advanced Config for review"
    page.fill("#id_advanced_config", config.replace('"EARLY": "ringing"', '"EARLY": "connected"'))
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist")

    channel.refresh_from_db()
    assert channel.advanced_config["status_mapping"]["EARLY"] == "connected", "the edit is what was saved"
    assert channel.advanced_config["field_mapping"]["sequence"] == "seq_num", "with the rest of the preset as filled"
    assert '"EARLY": "connected"' in page.input_value("#id_advanced_config")
    context.close()
