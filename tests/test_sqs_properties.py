"""The promise of #14 for the SQS consumer: whatever a signed message contains, `consume_sqs` keeps going.
Every message, hostile or ordinary, ends stored (merged, or rejected/failed with a reason) and deleted from
its queue, and the ordinary messages after a hostile one are stored as well. Against a real SQS-compatible
server (moto) on 127.0.0.1, with the real consumer command and the real worker."""

import hashlib
import hmac
import io
import time

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.models import Bot, RawEvent, SqsQueue, TelephonyChannel
from dialogs.models import Dialog

from .hostile_payloads import BINOTEL, GENERIC, hostile_deliveries
from .test_pipeline_properties import (
    EXPECTED,
    MAX_ATTEMPTS,
    MERGED,
    PENDING,
    clear_what_the_pipeline_made,
    describe,
    ended_well,
    work_until_settled,
)
from .test_sqs_transport import sqs_server, sqs_server_is_allowed  # noqa: F401 (the moto server, allowed; one per module)

ROUNDS = 8  # consumer runs; a message whose run crashed comes back after its visibility timeout (1 s)


class SqsStage:
    """A JSON channel and a form channel of one bot, each pulling from its own queue."""

    def __init__(self, server):
        self.server = server
        bot = Bot.objects.create(name="Sales")
        self.queues = {}
        for preset in (GENERIC, BINOTEL):
            channel = TelephonyChannel.from_preset(bot, preset.slug, preset.slug, transport="sqs")
            channel.advanced_config = {**channel.advanced_config, "authentication": {"scheme": "token"}}
            channel.save()
            url = server.queue(f"{preset.slug}-{time.monotonic_ns()}", visibility=1)
            queue = SqsQueue(
                channel=channel,
                queue_url=url,
                region="us-east-1",
                access_key_id=server.key_id,
                endpoint_url=server.endpoint,
            )
            queue.set_secret_access_key(server.secret)
            queue.save()
            self.queues[preset.slug] = queue
        self.sent = {}  # message id: (label, description)

    def send(self, slug, body, label, description):
        answer = self.server.client.send_message(
            QueueUrl=self.queues[slug].queue_url,
            MessageBody=body.decode(),
            MessageAttributes={"X-SIGNATURE": {"DataType": "String", "StringValue": self.signature(body)}},
        )
        self.sent[answer["MessageId"]] = (label, description)

    def signature(self, body):
        return hmac.new(self.server.secret.encode(), body, hashlib.sha256).hexdigest()

    def consume(self):
        """`consume_sqs --once` until every queue is empty, restarted after a crash as a supervisor would;
        the crashes."""
        crashes = []
        for _ in range(ROUNDS):
            try:
                call_command("consume_sqs", "--once", stdout=io.StringIO())
            except Exception as exc:
                crashes.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                time.sleep(1.1)  # the messages it received come back
            if not any(self.server.waiting(queue.queue_url) for queue in self.queues.values()):
                break
        return crashes


@pytest.fixture
def sqs_stage(transactional_db, sqs_server, settings):  # noqa: F811
    settings.EVENT_MAX_ATTEMPTS = MAX_ATTEMPTS
    return SqsStage(sqs_server)


def breaches_after_consuming(stage, ordinary_ids):
    crashes = stage.consume()
    work_until_settled()
    breaches = [f"consume_sqs crashed: {crash}" for crash in crashes]
    breaches += [
        f"{queue.channel.name}: {stage.server.waiting(queue.queue_url)} messages left in the queue"
        for queue in stage.queues.values()
        if stage.server.waiting(queue.queue_url)
    ]
    stored = {}
    for headers, state, error in RawEvent.objects.values_list("headers", "state", "error"):
        stored.setdefault(headers.get("X-SQS-Message-Id"), []).append((state, error))
    for message_id, (label, description) in stage.sent.items():
        ended = stored.get(message_id, [])
        if not ended:
            breaches.append(f"{label} ({description}) was never stored")
        elif label.startswith("ordinary"):
            breaches += [f"{label} ended {state} {error[:200]!r}" for state, error in ended if state not in MERGED]
        else:
            breaches += [
                f"{label} ({description}) ended {state} {error[:200]!r}"
                for state, error in ended
                if not ended_well(state, error)
            ]
    if RawEvent.objects.filter(state__in=PENDING).exists():
        breaches.append("an event is still waiting after the worker drained")
    for slug, call_id in ordinary_ids:
        dialogs = list(Dialog.objects.filter(channel=stage.queues[slug].channel, call_id=call_id))
        shown = [{name: getattr(dialog, name) for name in EXPECTED[slug]} for dialog in dialogs]
        if shown != [EXPECTED[slug]]:
            breaches.append(f"ordinary {slug} call {call_id}: {shown}")
    return breaches


def send_ordinary(stage, number):
    ids = []
    for preset in (GENERIC, BINOTEL):
        call_id = f"ordinary-{number}-{preset.slug}"
        body, _ = preset.ordinary(call_id)
        stage.send(preset.slug, body, f"ordinary-{number}-{preset.slug}", preset.slug)
        ids.append((preset.slug, call_id))
    return ids


POISON = {
    "a 5000-digit integer": (GENERIC, {"call_duration": "1" * 5000}),
    "a 400-digit integer": (GENERIC, {"call_duration": "9" * 400}),
    "2,000-deep bracket keys": (BINOTEL, {"callDetails" + ".a" * 2000: '"1"'}),
    "NUL in a key and a value": (GENERIC, {"caller": '"\\u0000"', "k\u0000ey": "1"}),
    "a lone surrogate": (GENERIC, {"caller": '"\\ud800"'}),
    "a date past 9999": (BINOTEL, {"callDetails.startTime": '"9999-12-31T23:59:59-14:00"'}),
}


@pytest.mark.parametrize("case", list(POISON))
def test_a_poison_message_is_stored_with_a_reason_and_the_next_messages_are_stored_too(sqs_stage, case):
    preset, tokens = POISON[case]
    ordinary = send_ordinary(sqs_stage, 0)
    body, _ = preset.body("poison-1", tokens)
    sqs_stage.send(preset.slug, body, "hostile-poison", case)
    ordinary += send_ordinary(sqs_stage, 1)  # after the poison, on both queues

    breaches = breaches_after_consuming(sqs_stage, ordinary)
    assert not breaches, "\n".join(breaches)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile=st.lists(hostile_deliveries(preset_slugs=("generic", "binotel")), min_size=1, max_size=3))
def test_whatever_a_signed_message_contains_every_message_ends_stored_and_deleted(sqs_stage, hostile):
    clear_what_the_pipeline_made()
    sqs_stage.sent.clear()
    ordinary = send_ordinary(sqs_stage, 0)
    for n, (slug, tokens, key) in enumerate(hostile):
        preset = GENERIC if slug == "generic" else BINOTEL
        body, _ = preset.body(f"hostile-{n}-{time.monotonic_ns()}", tokens, key)
        sqs_stage.send(slug, body, f"hostile-{n}", describe(slug, tokens, key))
    ordinary += send_ordinary(sqs_stage, 1)

    breaches = breaches_after_consuming(sqs_stage, ordinary)
    assert not breaches, "\n".join(breaches)
