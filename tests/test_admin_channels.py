"""The administrator's channel page, the Test button and the event log."""

import json

import pytest

from channels_app import providers
from channels_app.models import RawEvent, TelephonyChannel, default_advanced_config
from dialogs.models import Dialog

from .conftest import fixture, post_event, process_all


def channel_form(bot, **fields):
    return {
        "bot": bot.pk,
        "name": "Main",
        "is_active": "on",
        "data_format": "json",
        "transport": "webhook",
        "advanced_config": "{}",
        "default_country_code": "+380",
        "enrich_error_action": "skip",
        "caller_lookup_deadline": "2",
        "preset": "",
        "sqs_queue-TOTAL_FORMS": "0",
        "sqs_queue-INITIAL_FORMS": "0",
        "sqs_queue-MIN_NUM_FORMS": "0",
        "sqs_queue-MAX_NUM_FORMS": "1",
        **fields,
    }


@pytest.mark.django_db
def test_creating_a_channel_from_a_preset_gives_the_providers_working_setup(admin_client, bot):
    # As a browser without the page's script posts it: Advanced Config as the add form showed it (the admin
    # posts what it showed in initial-advanced_config too).
    shown = json.dumps(default_advanced_config())
    response = admin_client.post(
        "/admin/channels_app/telephonychannel/add/",
        channel_form(
            bot, preset="twilio", advanced_config=shown, default_country_code="", **{"initial-advanced_config": shown}
        ),
    )

    assert response.status_code == 302
    channel = TelephonyChannel.objects.get()
    assert channel.data_format == "form" and channel.default_country_code == "+1"
    assert channel.advanced_config["field_mapping"]["call_id"] == "CallSid"


@pytest.mark.django_db
def test_a_preset_is_never_applied_over_an_edit_of_advanced_config(admin_client, bot, generic):
    # The page's script filled Advanced Config from the preset; the administrator then changed a status.
    edited = providers.load("setera")["advanced_config"]
    edited["status_mapping"]["EARLY"] = "connected"
    form = channel_form(
        bot,
        name=generic.name,
        preset="setera",
        advanced_config=json.dumps(edited),
        data_format="json",
        **{"initial-advanced_config": json.dumps(generic.advanced_config)},
    )

    response = admin_client.post(f"/admin/channels_app/telephonychannel/{generic.pk}/change/", form, follow=True)

    generic.refresh_from_db()
    assert generic.advanced_config == edited
    assert "was not applied over your edit" in response.content.decode()


@pytest.mark.django_db
def test_a_preset_chosen_with_the_config_as_shown_fills_it(admin_client, bot, generic):
    shown = json.dumps(generic.advanced_config)
    form = channel_form(
        bot,
        name=generic.name,
        preset="setera",
        advanced_config=shown,
        default_country_code="",
        **{"initial-advanced_config": shown},
    )

    assert admin_client.post(f"/admin/channels_app/telephonychannel/{generic.pk}/change/", form).status_code == 302

    generic.refresh_from_db()
    assert generic.advanced_config == providers.load("setera")["advanced_config"]
    assert generic.default_country_code == "+358"


@pytest.mark.django_db
def test_the_bot_page_lists_its_channels_and_offers_to_create_one(admin_client, make_channel, bot):
    make_channel("setera", name="Helsinki")
    html = admin_client.get(f"/admin/channels_app/bot/{bot.pk}/change/").content.decode()
    assert "Helsinki" in html and f"/admin/channels_app/telephonychannel/add/?bot={bot.pk}" in html


@pytest.mark.django_db
def test_the_channel_page_shows_url_token_status_country_and_default_operator(
    admin_client, client, make_channel, settings
):
    settings.PUBLIC_BASE_URL = "https://calls.example.com"
    channel = make_channel("generic")
    post_event(client, channel, "{broken")

    html = admin_client.get(f"/admin/channels_app/telephonychannel/{channel.pk}/change/").content.decode()

    assert f"https://calls.example.com/webhooks/telephony/{channel.webhook_id}/" in html
    assert f"?token={channel.token}" in html and html.count("Copy</button>") >= 3
    assert "+380 Ukraine — e.g." in html and "+358 Finland — e.g." in html
    assert "last 24 h: 1 events, 0 dialogs, 1 failures" in html and "invalid JSON" in html
    assert "TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID = 1" in html
    assert "Regenerate token" in html and "Event log" in html


@pytest.mark.django_db
def test_regenerating_the_token_asks_first(admin_client, generic):
    old = generic.token
    confirm = admin_client.get(f"/admin/channels_app/telephonychannel/{generic.pk}/regenerate-token/")
    assert "stops working at once" in confirm.content.decode()
    generic.refresh_from_db()
    assert generic.token == old, "nothing changes before the confirmation"

    admin_client.post(f"/admin/channels_app/telephonychannel/{generic.pk}/regenerate-token/")
    generic.refresh_from_db()
    assert generic.token != old


@pytest.mark.django_db
def test_preview_mapping_shows_fields_beside_the_payload_and_flags_problems(admin_client, client, generic):
    post_event(client, generic, {**fixture("generic_call.json"), "status": "ODD", "caller": None})
    event = RawEvent.objects.get()

    html = admin_client.get(f"/admin/channels_app/rawevent/{event.pk}/preview/").content.decode()

    assert "unmapped value: add &#x27;ODD&#x27; to status_mapping" in html
    assert "missing: the payload has nothing at this path" in html
    assert "Suggested field_mapping" in html and "c-1001" in html


@pytest.mark.django_db
def test_the_suggested_mapping_reads_a_providers_payload(admin_client, client, make_channel):
    channel = make_channel("generic", advanced_config={"field_mapping": {"call_id": "nope"}})
    post_event(
        client,
        channel,
        {
            "uuid": "abc-1",
            "from": "+380501234567",
            "to": "+380441234567",
            "billsec": 30,
            "disposition": "ANSWERED",
            "recording": {"url": "https://r.example/1.mp3"},
        },
    )
    from channels_app.inspection import suggest_mapping

    suggestion = suggest_mapping(RawEvent.objects.get().payloads()[0])

    assert suggestion == {
        "call_id": "uuid",
        "caller_number": "from",
        "callee_number": "to",
        "duration": "billsec",
        "status": "disposition",
        "recording_url": "recording.url",
    }


@pytest.mark.django_db
def test_reprocess_after_fixing_the_mapping_creates_the_dialog_once(admin_client, client, generic):
    generic.advanced_config["field_mapping"]["call_id"] = "callId"
    generic.save()
    post_event(client, generic, fixture("generic_call.json"))
    process_all()
    event = RawEvent.objects.get()
    assert event.state == "failed"

    generic.advanced_config["field_mapping"]["call_id"] = "call_id"
    generic.save()
    for _ in range(2):
        admin_client.post("/admin/channels_app/rawevent/", {"action": "reprocess", "_selected_action": [event.pk]})
        process_all()

    assert Dialog.objects.count() == 1
    event.refresh_from_db()
    assert event.state == "processed"


@pytest.mark.django_db
def test_a_users_page_shows_the_dialogs_assigned_to_them(admin_client, generic, operator):
    Dialog.objects.create(channel=generic, call_id="c-9", operator=operator, status="answered")
    html = admin_client.get(f"/admin/accounts/user/{operator.pk}/change/").content.decode()
    assert "assigned-dialogs" in html and "answered" in html


@pytest.mark.django_db
def test_test_dialogs_can_be_filtered_and_deleted_in_bulk(admin_client, generic):
    test_dialog = Dialog.objects.create(channel=generic, call_id="t-1", is_test=True)
    Dialog.objects.create(channel=generic, call_id="real-1")

    listed = admin_client.get("/admin/dialogs/dialog/?is_test__exact=1").content.decode()
    assert "t-1" in listed and "real-1" not in listed
    admin_client.post(
        "/admin/dialogs/dialog/", {"action": "delete_selected", "_selected_action": [test_dialog.pk], "post": "yes"}
    )
    assert list(Dialog.objects.values_list("call_id", flat=True)) == ["real-1"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("preset", sorted(providers.all_presets()))
def test_the_test_button_makes_a_test_dialog_through_the_real_endpoint(
    live_server, admin_client, make_channel, worker_process, settings, preset
):
    settings.PUBLIC_BASE_URL = live_server.url
    channel = make_channel(preset)
    channel.set_signature_secret("a-signing-secret")  # used by the presets whose deliveries are signed
    channel.save()

    html = admin_client.post(f"/admin/channels_app/telephonychannel/{channel.pk}/test/").content.decode()

    assert "The test call made a test dialog." in html, html[:3000]
    dialog = Dialog.objects.get()
    assert dialog.is_test and dialog.is_complete
    assert f"/admin/dialogs/dialog/{dialog.pk}/change/" in html


@pytest.mark.django_db(transaction=True)
def test_the_test_button_says_which_step_failed(live_server, admin_client, make_channel, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    channel = make_channel("generic")

    html = admin_client.post(f"/admin/channels_app/telephonychannel/{channel.pk}/test/").content.decode()

    assert "The test failed." in html
    assert "No worker processed it within" in html and "process_events" in html
