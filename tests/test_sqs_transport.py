"""The SQS transport against a real SQS-compatible server (moto's server mode) on 127.0.0.1."""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time

import boto3
import pytest

from channels_app import sqs
from channels_app.models import RawEvent, SqsQueue, TelephonyChannel
from dialogs.models import CallEvent, Dialog

from .conftest import database_down, fixture, process_all, run_in_threads

WILDIX = {
    "field_mapping": {
        "call_id": "id",
        "timestamp": "time",
        "status": "type",
        "direction": "data.caller.type",
        "caller_number": "data.caller.phone",
        "callee_number": "data.callee.phone",
        "operator_id": {"out": "data.caller.email", "in": "data.callee.email"},
        "end_cause": "data.endCauseStr",
    },
    "status_mapping": {"call:start": "ringing", "call:update": "ringing", "call:end": "ended"},
    "direction_mapping": {"LOCAL": "out", "REMOTE": "in"},
}
SAMPLES = ["wildix_call_start.json", "wildix_call_update.json", "wildix_call_end.json"]


class SqsServer:
    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # Authentication is enforced after the first three calls, which make the user whose key we use.
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
        moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
        self.process = subprocess.Popen(
            [moto, "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="wildix")
        key = iam.create_access_key(UserName="wildix")["AccessKey"]
        iam.put_user_policy(
            UserName="wildix",
            PolicyName="sqs",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.client = boto3.client(
            "sqs",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )

    def queue(self, name, visibility=30):
        return self.client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]

    def send(self, queue_url, body, signature=None):
        signature = signature or hmac.new(self.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        self.client.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageAttributes={"X-SIGNATURE": {"DataType": "String", "StringValue": signature}},
        )

    def waiting(self, queue_url):
        attributes = self.client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(autouse=True)
def sqs_server_is_allowed(settings):
    """The moto server runs on 127.0.0.1: an address the consumer refuses unless it is allowed."""
    settings.SQS_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture(scope="module")
def sqs_server():
    server = SqsServer()
    yield server
    server.stop()


@pytest.fixture
def wildix_channel(bot, sqs_server, request):
    url = sqs_server.queue(f"wildix-{request.node.name[:40]}-{time.monotonic_ns()}", visibility=1)
    channel = TelephonyChannel.objects.create(bot=bot, name="Wildix", transport="sqs", advanced_config=WILDIX)
    queue = SqsQueue(
        channel=channel,
        queue_url=url,
        region="us-east-1",
        access_key_id=sqs_server.key_id,
        endpoint_url=sqs_server.endpoint,
    )
    queue.set_secret_access_key(sqs_server.secret)
    queue.save()
    return channel


def body_of(name):
    return json.dumps(fixture(name))


@pytest.mark.django_db
def test_wildix_samples_sent_to_the_queue_become_a_dialog(sqs_server, wildix_channel):
    queue = wildix_channel.sqs_queue
    for name in SAMPLES:
        sqs_server.send(queue.queue_url, body_of(name))

    while sqs.poll(queue, wait_seconds=1):
        pass
    process_all()

    dialog = Dialog.objects.get()
    assert (dialog.call_id, dialog.direction, dialog.status) == ("it_w118741_1693389850.110", "out", "missed")
    assert dialog.caller_number == "1001" and not dialog.caller_number_valid, "an extension is kept as sent"
    assert dialog.extra["end_cause"] == "Call Rejected"
    assert RawEvent.objects.filter(state="processed").count() == 3
    assert RawEvent.objects.first().headers["X-SQS-Message-Id"]
    assert sqs_server.waiting(queue.queue_url) == 0, "deleted once stored"
    queue.refresh_from_db()
    assert queue.messages_received == 3 and queue.last_error == ""


@pytest.mark.django_db
def test_a_consumer_killed_between_storing_and_deleting_loses_nothing_and_doubles_nothing(sqs_server, wildix_channel):
    queue = wildix_channel.sqs_queue
    for name in SAMPLES:
        sqs_server.send(queue.queue_url, body_of(name))
    client = sqs.client_for(queue)
    received = client.receive_message(QueueUrl=queue.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    for message in received["Messages"]:
        sqs.store(queue, message)  # ...and the consumer dies before deleting them
    time.sleep(1.2)  # the visibility timeout runs out: SQS delivers them again

    while sqs.poll(queue, wait_seconds=1):
        pass
    process_all()

    assert Dialog.objects.count() == 1 and CallEvent.objects.count() == 3
    assert sorted(RawEvent.objects.values_list("state", flat=True)) == ["duplicate"] * 3 + ["processed"] * 3
    assert sqs_server.waiting(queue.queue_url) == 0


@pytest.mark.django_db
def test_a_poison_or_forged_message_is_kept_as_rejected_and_does_not_block_the_others(sqs_server, wildix_channel):
    queue = wildix_channel.sqs_queue
    sqs_server.send(queue.queue_url, "this is not JSON")
    sqs_server.send(queue.queue_url, body_of("wildix_call_start.json"), signature="0" * 64)
    for name in SAMPLES:
        sqs_server.send(queue.queue_url, body_of(name))

    while sqs.poll(queue, wait_seconds=1):
        pass
    process_all()

    rejected = RawEvent.objects.filter(state="rejected").order_by("id")
    assert [event.error for event in rejected] == [
        "invalid JSON: Expecting value at line 1 column 1",
        "the message's X-SIGNATURE does not match its body (or is missing)",
    ]
    assert Dialog.objects.get().status == "missed"
    assert sqs_server.waiting(queue.queue_url) == 0


@pytest.mark.django_db(transaction=True)
def test_our_own_trouble_leaves_the_message_in_the_queue(sqs_server, wildix_channel):
    queue = SqsQueue.objects.select_related("channel").get()
    sqs_server.send(queue.queue_url, body_of("wildix_call_end.json"))
    with database_down(), pytest.raises(Exception):
        sqs.poll(queue, wait_seconds=1)
    assert sqs_server.waiting(queue.queue_url) == 1, "not deleted"

    time.sleep(1.2)
    while sqs.poll(queue, wait_seconds=1):
        pass
    assert RawEvent.objects.count() == 1 and sqs_server.waiting(queue.queue_url) == 0


@pytest.mark.django_db(transaction=True)
def test_several_consumers_at_once_make_one_dialog_per_message(sqs_server, bot):
    url = sqs_server.queue(f"parallel-{time.monotonic_ns()}", visibility=30)
    channel = TelephonyChannel.objects.create(bot=bot, name="Wildix", transport="sqs", advanced_config=WILDIX)
    queue = SqsQueue(channel=channel, queue_url=url, access_key_id=sqs_server.key_id, endpoint_url=sqs_server.endpoint)
    queue.set_secret_access_key(sqs_server.secret)
    queue.save()
    for number in range(30):
        sqs_server.send(url, json.dumps({**fixture("wildix_call_end.json"), "id": f"call-{number}"}))

    def consume(_):
        mine = SqsQueue.objects.select_related("channel").get(pk=queue.pk)
        while sqs.poll(mine, wait_seconds=1):
            pass

    run_in_threads(consume, range(3))
    process_all()

    # SQS delivers at least once (moto too, under concurrent receivers): a message received twice is
    # stored twice and its second copy is a duplicate, never a second dialog.
    states = list(RawEvent.objects.values_list("state", flat=True))
    assert states.count("processed") == 30 and set(states) <= {"processed", "duplicate"}
    assert Dialog.objects.count() == 30


@pytest.mark.django_db
def test_bad_credentials_and_a_missing_queue_show_on_the_channel_page_in_plain_words(
    sqs_server, wildix_channel, admin_client
):
    queue = wildix_channel.sqs_queue
    queue.set_secret_access_key("not-the-secret")
    queue.save()

    assert sqs.poll(queue, wait_seconds=0) == 0
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{wildix_channel.pk}/change/").content.decode()
    assert "AWS refused the credentials: check the access key id and the secret access key." in page
    assert "not-the-secret" not in page and sqs_server.secret not in page

    queue.set_secret_access_key(sqs_server.secret)
    queue.queue_url = queue.queue_url + "-gone"
    queue.save()
    sqs.poll(queue, wait_seconds=0)
    queue.refresh_from_db()
    assert queue.last_error == "The queue does not exist: check the queue URL and the region."


@pytest.mark.django_db
def test_the_secret_is_encrypted_at_rest(wildix_channel, sqs_server):
    stored = SqsQueue.objects.values_list("secret_access_key_encrypted", flat=True).get()
    assert sqs_server.secret not in stored
    assert SqsQueue.objects.get().secret_access_key == sqs_server.secret


@pytest.mark.django_db
def test_the_consumer_command_polls_every_active_sqs_channel(sqs_server, wildix_channel):
    from io import StringIO

    from django.core.management import call_command

    sqs_server.send(wildix_channel.sqs_queue.queue_url, body_of("wildix_call_end.json"))
    out = StringIO()
    call_command("consume_sqs", "--once", stdout=out)
    assert out.getvalue().strip() == "stored 1 messages"


@pytest.mark.django_db
def test_an_endpoint_url_on_a_local_address_is_refused_unless_allowed_and_says_why(
    wildix_channel, admin_client, http_server, settings
):
    settings.SQS_ALLOWED_HOSTS = []
    http_server.route(
        "POST",
        "/",
        body="<ErrorResponse><Error><Code>Internal</Code><Message>secret internal page</Message></Error></ErrorResponse>",
    )
    queue = wildix_channel.sqs_queue
    queue.endpoint_url = http_server.url("/")
    queue.save()

    assert sqs.poll(queue, wait_seconds=0) == 0

    assert http_server.connections == 0
    page = admin_client.get(f"/admin/channels_app/telephonychannel/{wildix_channel.pk}/change/").content.decode()
    assert "private or local address" in page and "SQS_ALLOWED_HOSTS" in page
    assert "secret internal page" not in page


@pytest.mark.django_db
def test_an_allow_list_entry_with_another_port_does_not_allow_the_endpoint(wildix_channel, http_server, settings):
    settings.SQS_ALLOWED_HOSTS = ["127.0.0.1:1"]
    queue = wildix_channel.sqs_queue
    queue.endpoint_url = http_server.url("/")
    queue.save()

    sqs.poll(queue, wait_seconds=0)

    assert http_server.connections == 0


@pytest.mark.django_db
def test_trick_endpoint_urls_never_reach_the_local_server(wildix_channel, http_server, settings):
    from .url_tricks import ALLOWED, trick_urls

    settings.SQS_ALLOWED_HOSTS = [ALLOWED]
    queue = wildix_channel.sqs_queue
    for url in trick_urls(http_server.port):
        queue.endpoint_url = url
        assert sqs.poll(queue, wait_seconds=0) == 0, url
        queue.refresh_from_db()
        assert queue.last_error, url

    assert http_server.connections == 0
