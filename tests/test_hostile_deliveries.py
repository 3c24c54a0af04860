"""What one delivery's content can do: never lose another call, never break a page, never a 500.

Each finding of the hostile-input review (issue #14) that lives on the webhook's and the worker's path,
as a delivery a provider (or anyone holding a token) could send."""

import json
import logging
import logging.config
import socket
import sys
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from channels_app import authentication, inspection, sqs, views
from channels_app.models import Bot, RawEvent, TelephonyChannel
from connective.lib.logs import NumberMaskingFormatter
from dialogs.models import CallEvent, Dialog

from .conftest import fixture, post_event, process_all, webhook_path
from .test_sqs_transport import SAMPLES as SQS_SAMPLES
from .test_sqs_transport import sqs_server, sqs_server_is_allowed, wildix_channel  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

HUGE = int("9" * 400)


def a_call(call_id, **fields):
    return {**fixture("generic_call.json"), "call_id": call_id, **fields}


@pytest.fixture
def other_bot_channel(db):
    return TelephonyChannel.from_preset(Bot.objects.create(name="Another tenant"), "Theirs", "generic")


@pytest.mark.parametrize("field", ["call_duration", "started", "seq"])
def test_a_huge_integer_fails_only_its_own_delivery_never_another_bots(client, generic, other_bot_channel, field):
    generic.advanced_config["field_mapping"].update(started_at="started", sequence="seq")
    generic.save()
    for number in range(10):
        assert post_event(client, other_bot_channel, a_call(f"theirs-{number}")).status_code == 202
    assert post_event(client, generic, a_call("hostile", **{field: HUGE})).status_code == 202
    for number in range(10, 20):
        assert post_event(client, other_bot_channel, a_call(f"theirs-{number}")).status_code == 202

    process_all()

    assert Dialog.objects.filter(channel=other_bot_channel).count() == 20
    assert not RawEvent.objects.exclude(state=RawEvent.State.PROCESSED).exists()
    hostile = Dialog.objects.get(channel=generic, call_id="hostile")
    assert any("is not" in message.text for message in hostile.messages.all()), "the feed says what was ignored"


def test_any_exception_while_mapping_one_delivery_is_that_deliverys_failure(client, generic, other_bot_channel):
    generic.advanced_config["timezone"] = "Europe/Kyiv"
    generic.save()
    post_event(client, other_bot_channel, a_call("theirs"))
    post_event(client, generic, a_call("mine"))
    # A mapping broken in a way validation never foresaw: it raises a plain TypeError on every payload.
    TelephonyChannel.objects.filter(pk=generic.pk).update(advanced_config={"field_mapping": {"call_id": 7}})

    process_all()

    assert Dialog.objects.filter(channel=other_bot_channel).count() == 1
    failed = RawEvent.objects.get(channel=generic)
    assert failed.state == RawEvent.State.FAILED
    assert "could not be mapped" in failed.error and "TypeError" in failed.error


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1969-12-31T23:00:00Z", "2999-01-01T00:00:00Z"]
)
def test_times_no_call_can_have_are_not_stored_and_every_page_still_answers(client, admin_client, phonon, moment):
    payload = fixture("phonon_flow_end.json")
    payload["callDetails"][0].update(startTime=moment, connectTime=moment, endTime=moment)
    assert post_event(client, phonon, payload).status_code == 202
    process_all()

    dialog = Dialog.objects.get()
    assert RawEvent.objects.get().state == RawEvent.State.PROCESSED
    assert dialog.ended_at is None or dialog.ended_at.year != int(moment[:4])
    assert any("outside the times a call can have" in message.text for message in dialog.messages.all())
    for url in (
        "/panel/",
        f"/panel/dialogs/{dialog.pk}/",
        "/api/dialogs/",
        "/admin/dialogs/dialog/",
        f"/admin/dialogs/dialog/{dialog.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    dialog.delete()


def test_the_window_for_call_times_is_a_setting(client, generic, settings):
    from datetime import UTC, datetime

    settings.CALL_TIME_EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
    generic.advanced_config["field_mapping"]["started_at"] = "started"
    generic.save()
    post_event(client, generic, a_call("old", started="2019-06-01T10:00:00Z"))
    post_event(client, generic, a_call("new", started="2021-06-01T10:00:00Z"))
    process_all()

    assert Dialog.objects.get(call_id="new").started_at.year == 2021
    assert Dialog.objects.get(call_id="old").started_at.year != 2019


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
    ],
)
def test_a_recording_url_that_is_not_http_is_refused_when_mapped_and_kept_in_the_event(
    client, admin_client, generic, url
):
    post_event(client, generic, a_call("c-js", recording_url=url))
    process_all()

    dialog = Dialog.objects.get()
    assert dialog.recording_url == ""
    assert dialog.events.get().payload["recording_url"] == url, "kept as sent in the event"
    assert any("not an http(s) URL" in message.text for message in dialog.messages.all())
    assert url.strip() not in admin_client.get("/api/dialogs/").content.decode()
    page = admin_client.get(f"/panel/dialogs/{dialog.pk}/").content.decode()
    assert f'="{url.strip()}' not in page and "<audio" not in page, "quoted in the feed as text, never a source"


@pytest.mark.parametrize(
    "body, reason",
    [
        ('{"call_id": "c-1", "call_duration": NaN}', "NaN is not a JSON number"),
        ('{"call_id": "c-1", "call_duration": Infinity}', "Infinity is not a JSON number"),
        ('{"call_id": "c-1", "call_duration": -Infinity}', "-Infinity is not a JSON number"),
        ('{"call_id": "c-1", "call_duration": 1e400}', "out of range"),
        ('{"call_id": "c-1\\u0000", "status": "PROPER"}', "NUL"),
        ('{"call_id": "c-1", "note\\u0000": "x"}', "NUL"),
        ('{"call_id": "c-1", "caller": "\\ud800"}', "lone surrogate"),
        ('{"call_id": "c-1", "call_duration": ' + "1" * 5000 + "}", "digits"),
        ('{"call_id": "c-1", "deep": ' + "[" * 500 + "]" * 500 + "}", "nested more than"),
    ],
)
def test_a_body_the_database_could_never_keep_is_a_clear_400_and_kept_as_rejected(client, generic, body, reason):
    answer = post_event(client, generic, body)

    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    event = RawEvent.objects.get()
    assert event.state == RawEvent.State.REJECTED and reason in event.error


def test_a_surrogate_pair_and_other_escapes_are_ordinary_text(client, generic):
    body = json.dumps(a_call("c-emoji", transcript="Thanks 😀 \t bye"), ensure_ascii=True)
    assert post_event(client, generic, body).status_code == 202
    process_all()
    assert Dialog.objects.get().transcript == "Thanks 😀 \t bye"


def test_a_call_id_longer_than_a_dialog_holds_fails_with_its_reason(client, generic):
    assert post_event(client, generic, a_call("x" * 256)).status_code == 202
    process_all()
    event = RawEvent.objects.get()
    assert event.state == RawEvent.State.FAILED and "longer than 255 characters" in event.error


def test_form_keys_nested_a_thousand_deep_are_a_clear_400(client, make_channel):
    channel = make_channel("binotel", advanced_config={**make_channel("generic").advanced_config})
    channel.data_format = "form"
    channel.save()
    key = "a" + "[x]" * 1000
    answer = post_event(client, channel, f"{key}=1&call_id=c-1", content_type="application/x-www-form-urlencoded")

    assert answer.status_code == 400 and "nested more than" in answer.json()["error"]


def test_a_nul_in_a_form_value_is_a_clear_400(client, make_channel):
    channel = make_channel("generic", data_format="form")
    answer = post_event(client, channel, "call_id=c-1&caller=%00", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and "NUL" in answer.json()["error"]


def test_more_than_a_hundred_query_parameters_is_a_401_counted_by_the_limiter(client, generic, settings):
    settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE = 3
    path = webhook_path(generic, False) + "?" + "&".join(f"p{number}=1" for number in range(150))
    answers = [client.post(path, a_call("c-1"), content_type="application/json").status_code for _ in range(5)]

    assert answers[:3] == [401, 401, 401] and answers[3:] == [429, 429]
    assert not RawEvent.objects.exists()


def test_a_content_type_longer_than_we_keep_is_a_400_stored_as_rejected(client, generic):
    content_type = "application/json; " + "x" * 300
    answer = post_event(client, generic, a_call("c-1"), content_type=content_type)

    assert answer.status_code == 400 and "Content-Type" in answer.json()["error"]
    assert RawEvent.objects.get().state == RawEvent.State.REJECTED


def raw_http(live_server, request_bytes):
    parts = urlsplit(live_server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request_bytes)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer.decode("latin-1")


def test_a_chunked_body_the_server_cannot_measure_is_answered_411_not_lost(live_server, generic):
    body = json.dumps(a_call("c-chunked")).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = (
        f"POST {webhook_path(generic)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode() + chunked

    answer = raw_http(live_server, request)

    assert answer.startswith("HTTP/1.1 411"), answer[:200]
    assert "Content-Length" in answer.split("\r\n\r\n", 1)[1]
    assert not RawEvent.objects.exists()


def test_a_chunked_body_that_the_server_decoded_is_stored(generic):
    """gunicorn decodes chunked bodies and says so with wsgi.input_terminated: the event is read to its end."""
    import io

    body = json.dumps(a_call("c-chunked")).encode()
    request = RequestFactory().generic(
        "POST",
        webhook_path(generic),
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input_terminated": True},
    )
    request.META.pop("CONTENT_LENGTH", None)
    request.META["wsgi.input"] = io.BytesIO(body)

    answer = views.telephony_webhook(request, generic.webhook_id)

    assert answer.status_code == 202
    assert bytes(RawEvent.objects.get().body) == body


def test_a_forged_forwarded_for_that_is_no_address_still_stores_the_call(client, generic, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    answer = post_event(client, generic, a_call("c-xff"), **{"X-Forwarded-For": "not-an-address, <script>"})
    assert answer.status_code == 202
    assert RawEvent.objects.get().remote_addr == "127.0.0.1"


def test_only_the_servers_signature_marks_a_test_delivery(client, generic):
    assert post_event(client, generic, a_call("real"), X_Connective_Test="1").status_code == 202
    body = json.dumps(a_call("ours"))
    assert post_event(client, generic, body, **authentication.test_headers(generic, body.encode())).status_code == 202
    process_all()

    assert not Dialog.objects.get(call_id="real").is_test, "a token holder cannot hide a real call from the panel"
    assert Dialog.objects.get(call_id="ours").is_test


def test_the_body_token_never_leaves_the_check(client, make_channel):
    channel = make_channel("aircall")
    channel.set_signature_secret("aircall-body-token-123456")
    channel.save()
    payload = {**fixture("aircall_call_ended.json"), "token": "aircall-body-token-123456"}
    assert post_event(client, channel, payload).status_code == 202
    process_all()

    event = RawEvent.objects.get()
    assert event.state == RawEvent.State.PROCESSED and Dialog.objects.exists()
    everything = json.dumps(
        [
            event.payloads(),
            list(CallEvent.objects.values_list("payload", flat=True)),
            [dialog.call_state() for dialog in Dialog.objects.all()],
        ],
        default=str,
    )
    assert "aircall-body-token-123456" not in everything
    assert "aircall-body-token-123456" not in inspection.masked_body_text(event)
    assert "aircall-body-token-123456" in bytes(event.body).decode(), "the delivery itself is kept as sent"


def test_phone_numbers_in_a_database_errors_detail_are_masked_in_the_log(generic):
    formatter = logging.config.dictConfigClass(django_settings.LOGGING).configure_formatter(
        django_settings.LOGGING["formatters"]["plain"]
    )
    Dialog.objects.create(channel=generic, call_id="+380501234567")
    try:
        with transaction.atomic():
            Dialog.objects.create(channel=generic, call_id="+380501234567")
    except IntegrityError:
        record = logging.LogRecord(
            "worker", logging.ERROR, __file__, 1, "merging %s failed", ("+380 50 123 45 67",), sys.exc_info()
        )
    formatted = formatter.format(record)

    assert isinstance(formatter, NumberMaskingFormatter)
    assert "IntegrityError" in formatted and "[number …67]" in formatted
    assert "380501234567" not in formatted and "123 45 67" not in formatted


@pytest.mark.parametrize(
    "poison",
    [
        '{"id": "x", "type": "call:end", "n": ' + "7" * 5000 + "}",
        '{"id": "x", "type": "call:end", "n": NaN}',
        '{"id": "x\\u0000", "type": "call:end"}',
        "{" * 3000,
        "\ud800",
    ],
)
def test_an_sqs_message_that_cannot_be_read_is_kept_as_rejected_and_the_queue_moves_on(
    sqs_server, wildix_channel, poison
):
    queue = wildix_channel.sqs_queue
    sqs_server.send(queue.queue_url, poison.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    for name in SQS_SAMPLES:
        sqs_server.send(queue.queue_url, json.dumps(fixture(name)))

    for _ in range(3):  # every redelivery would crash a consumer that cannot store the poison
        sqs.poll(queue, wait_seconds=1)
    process_all()

    assert sqs_server.waiting(queue.queue_url) == 0
    assert RawEvent.objects.filter(state=RawEvent.State.REJECTED).count() == 1
    assert RawEvent.objects.get(state=RawEvent.State.REJECTED).error
    assert Dialog.objects.count() == 1 and RawEvent.objects.filter(state=RawEvent.State.PROCESSED).count() == 3


def test_an_sqs_message_with_a_lone_surrogate_is_rejected_not_a_crash(wildix_channel):
    message = {"Body": '{"id": "\ud800"}', "MessageId": "m-1", "MessageAttributes": {}}
    event = sqs.store_or_reject(wildix_channel.sqs_queue, message)
    assert event.is_rejected and event.error


def test_events_stored_before_masking_lose_their_body_token_and_a_retry_still_matches(client, make_channel):
    import importlib

    from django.apps import apps

    from dialogs.models import fingerprint_of

    channel = make_channel("aircall")
    channel.set_signature_secret("aircall-body-token-123456")
    channel.save()
    payload = {**fixture("aircall_call_ended.json"), "token": "aircall-body-token-123456"}
    post_event(client, channel, payload)
    process_all()
    stored = CallEvent.objects.get()
    CallEvent.objects.filter(pk=stored.pk).update(payload=payload, fingerprint=fingerprint_of(payload))  # as before

    importlib.import_module("channels_app.migrations.0008_mask_stored_body_tokens").mask_stored_body_tokens(apps, None)
    post_event(client, channel, payload)  # the provider's retry
    process_all()

    assert "aircall-body-token-123456" not in json.dumps(CallEvent.objects.get().payload)
    assert list(RawEvent.objects.order_by("id").values_list("state", flat=True)) == ["processed", "duplicate"]
