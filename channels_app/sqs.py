"""The SQS transport: a channel's events pulled from an AWS SQS queue (Wildix offers it beside webhooks)
into exactly the pipeline a webhook delivery takes. A message is deleted from the queue only once its
raw event is committed; if we crash in between, SQS delivers it again and the duplicate changes nothing."""

import hashlib
import hmac
import logging
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.db.models import F
from django.utils import timezone

from connective.lib import outbound

from .models import RawEvent, SqsQueue, TelephonyChannel

log = logging.getLogger(__name__)

CREDENTIAL_ERRORS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidSecurity",
}


def client_for(queue):
    return boto3.client(
        "sqs",
        region_name=queue.region,
        aws_access_key_id=queue.access_key_id,
        aws_secret_access_key=queue.secret_access_key,
        endpoint_url=queue.endpoint_url or None,
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )


def check_endpoint(queue):
    """The endpoint URL under the rule every outbound URL follows: http(s) only, read as it is connected
    to, and no private or local address unless SQS_ALLOWED_HOSTS allows its host."""
    if queue.endpoint_url:
        outbound.checked_address(outbound.parse(queue.endpoint_url), settings.SQS_ALLOWED_HOSTS, "SQS_ALLOWED_HOSTS")


def poll(queue, wait_seconds=20):
    """Receive up to ten messages (long polling) and store each as a raw event; the number stored."""
    try:
        check_endpoint(queue)
        client = client_for(queue)
    except (outbound.OutboundError, ValueError) as exc:
        record(queue, error=f"The endpoint URL was refused: {exc}")
        return 0
    try:
        answer = client.receive_message(
            QueueUrl=queue.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        )
    except (ClientError, BotoCoreError) as exc:
        record(queue, error=in_plain_words(exc, queue))
        return 0
    stored = 0
    for message in answer.get("Messages", []):
        try:
            store_or_reject(queue, message)
        except DatabaseError:  # ours is the trouble: leave it in the queue for SQS to deliver again
            log.warning("could not store SQS message %s; it stays in the queue", message.get("MessageId"))
            continue
        client.delete_message(QueueUrl=queue.queue_url, ReceiptHandle=message["ReceiptHandle"])
        stored += 1
    record(queue, received=stored)
    return stored


def store_or_reject(queue, message):
    """Store the message; one that cannot be stored as it came (whatever it holds) is stored as rejected
    with the reason, so it is deleted like a bad webhook and never blocks the queue."""
    try:
        return store(queue, message)
    except DatabaseError:
        raise
    except Exception as exc:
        log.warning("SQS message %s cannot be stored as it came: %s", message.get("MessageId"), type(exc).__name__)
        body = str(message.get("Body", "")).encode("utf-8", "replace")
        reason = f"the message could not be read ({type(exc).__name__}); stored as received"
        return RawEvent.receive(
            queue.channel, body, headers={"X-SQS-Message-Id": str(message.get("MessageId", ""))}, refusal=reason
        )


def store(queue, message):
    """One message as one raw event: its body, its attributes as headers, its message id."""
    body = message.get("Body", "").encode("utf-8", "surrogatepass")  # a lone surrogate: refused as bad UTF-8
    attributes = {name: value.get("StringValue", "") for name, value in message.get("MessageAttributes", {}).items()}
    headers = {
        **{
            name[:200]: value[:1000].replace("\x00", "")
            for name, value in attributes.items()
            if name.upper() != "X-SIGNATURE"
        },
        "X-SQS-Message-Id": message.get("MessageId", ""),
    }
    refusal = ""
    if queue.require_signature and not signed(body, attributes.get("X-SIGNATURE", ""), queue.secret_access_key):
        refusal = "the message's X-SIGNATURE does not match its body (or is missing)"
    return RawEvent.receive(queue.channel, body, content_type="", headers=headers, refusal=refusal)


def signed(body, signature, secret):
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(signature) and hmac.compare_digest(expected.encode(), signature.encode())


def record(queue, received=0, error=""):
    now = timezone.now()
    if error:
        SqsQueue.objects.filter(pk=queue.pk).update(last_poll_at=now, last_error=error, last_error_at=now)
    else:
        SqsQueue.objects.filter(pk=queue.pk).update(
            last_poll_at=now, last_error="", last_error_at=None, messages_received=F("messages_received") + received
        )


def in_plain_words(exc, queue):
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in CREDENTIAL_ERRORS or status == 403:
            return "AWS refused the credentials: check the access key id and the secret access key."
        if "NonExistentQueue" in code or code == "QueueDoesNotExist":
            return "The queue does not exist: check the queue URL and the region."
        return f"SQS answered {code}: {exc.response.get('Error', {}).get('Message', '')}"
    if isinstance(exc, EndpointConnectionError):
        return f"Cannot reach SQS at {queue.endpoint_url or queue.queue_url}: check the URL and the network."
    if isinstance(exc, NoCredentialsError):
        return "No credentials: set the access key id and the secret access key."
    return f"SQS failed: {exc}"


def active_queues():
    return list(
        SqsQueue.objects.filter(
            channel__is_active=True, channel__transport=TelephonyChannel.Transport.SQS
        ).select_related("channel")
    )


def run(stop, idle_seconds=5):
    """Poll every active SQS channel until `stop()`: long polls for one queue, short turns for several."""
    while not stop():
        close_old_connections()
        try:
            queues = active_queues()
        except DatabaseError:
            log.exception("cannot read the SQS channels; retrying")
            time.sleep(idle_seconds)
            continue
        if not queues:
            time.sleep(idle_seconds)
        wait = 20 if len(queues) == 1 else 1
        for queue in queues:
            if stop():
                break
            try:
                poll(queue, wait_seconds=wait)
            except DatabaseError:  # messages not stored stay in their queue; try again shortly
                log.exception("the database failed while polling %s", queue.queue_url)
                time.sleep(idle_seconds)
