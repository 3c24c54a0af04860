import hmac
import json
import secrets
import uuid
from datetime import timedelta
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connection, models
from django.urls import reverse
from django.utils import timezone

from connective.lib import outbound, sql
from connective.lib.encryption import decrypt, encrypt, masked
from dialogs.models import Dialog

from . import providers
from .advanced_config import config_errors
from .guard import channels
from .mapping import MISSING, Mapping, replaced_at_path, resolve_path
from .parsing import Body, parse_events


def new_token():
    return secrets.token_urlsafe(32)


def default_advanced_config():
    """The example of seed 000: a provider that sends one event per call with a final status."""
    return {
        "field_mapping": {
            "call_id": "call_id",
            "caller_number": "caller",
            "callee_number": "callee",
            "operator_id": "manager_id",
            "status": "status",
            "direction": "direction",
            "duration": "call_duration",
            "recording_url": "recording_url",
            "transcript_text": "transcript",
        },
        "status_mapping": {"PROPER": "answered", "MISSED": "missed"},
        "direction_mapping": {"in": "in", "out": "out"},
        "recordings": {"enabled": True, "download": False},
        "transcription": {"enabled": True, "source": "provider"},
    }


class Bot(models.Model):
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="bots",
        help_text="Operators who see this bot's dialogs in the operator panel (staff see all).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TelephonyChannel(models.Model):
    """A provider's connection to a bot: where its webhooks arrive and how their fields are read."""

    class DataFormat(models.TextChoices):
        JSON = "json", "JSON"
        FORM = "form", "Form-urlencoded"

    class Transport(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (the provider POSTs to us)"
        SQS = "sqs", "AWS SQS queue (we pull)"

    class EnrichErrorAction(models.TextChoices):
        SKIP = "skip", "Do not assign or auto-transcribe"
        ASSIGN_ADMIN = "assign_admin", "Assign administrator and run auto-transcription"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField("active", default=True)
    webhook_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token = models.CharField("webhook token", max_length=100, default=new_token, editable=False)
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.WEBHOOK)
    data_format = models.CharField(max_length=8, choices=DataFormat.choices, default=DataFormat.JSON)
    advanced_config = models.JSONField(default=default_advanced_config)
    default_country_code = models.CharField(
        max_length=5,
        blank=True,
        validators=[RegexValidator(r"^\+[1-9][0-9]{0,2}$", "Write the country code as + and 1 to 3 digits: +380.")],
        help_text="Numbers without a country code are read as this country's, e.g. +380 for Ukraine.",
    )
    enrich_action = models.ForeignKey(
        "actions.Action",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="channels",
        verbose_name="webhook enrich action",
    )
    enrich_error_action = models.CharField(
        max_length=16, choices=EnrichErrorAction.choices, default=EnrichErrorAction.SKIP
    )
    auto_transcription = models.BooleanField(default=False)
    caller_lookup_action = models.ForeignKey(
        "actions.Action",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lookup_channels",
        help_text="Run on a call's first event; its outputs (caller_name, caller_url, caller_company, …) show on "
        "the caller card.",
    )
    caller_lookup_deadline = models.FloatField(
        default=2.0,
        validators=[MinValueValidator(0.2), MaxValueValidator(10)],
        help_text="Seconds the caller lookup may take; a slower one is shown as failed (0.2 to 10).",
    )
    recording_secret_encrypted = models.TextField(blank=True, editable=False)
    signature_secrets_encrypted = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bot__name", "name"]

    def __str__(self):
        return f"{self.bot} / {self.name}"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)

        channels.forget(self.webhook_id)  # this process sees a new token or Active at once; others within seconds

    @classmethod
    def from_preset(cls, bot, name, slug, **fields):
        preset = providers.load(slug)
        settings_of_preset = {
            "data_format": preset["data_format"],
            "default_country_code": preset["default_country_code"],
            "advanced_config": preset["advanced_config"],
        }
        return cls.objects.create(bot=bot, name=name, **{**settings_of_preset, **fields})

    def clean(self):
        errors = config_errors(self.advanced_config)
        if errors:
            raise ValidationError({"advanced_config": errors})

    @property
    def webhook_url(self):
        return settings.PUBLIC_BASE_URL + reverse("telephony-webhook", args=[self.webhook_id])

    @cached_property
    def mapping(self):
        return Mapping(self.advanced_config)

    def accepts_token(self, presented):
        return bool(presented) and hmac.compare_digest(presented.encode(), self.token.encode())

    def signature_secrets(self):
        """The signature secrets in force: the current one and, during a rotation, the previous one."""
        # Decrypted once per stored value: the webhook asks several times per delivery, and the channel
        # object lives in the web process's cache across deliveries.
        encrypted = self.signature_secrets_encrypted
        remembered = self.__dict__.get("_decrypted_secrets")
        if remembered is None or remembered[0] != encrypted:
            remembered = self._decrypted_secrets = (encrypted, json.loads(decrypt(encrypted) or "[]"))
        return list(remembered[1])

    def set_signature_secret(self, secret, keep_previous=True):
        """A new signature secret; the one it replaces stays valid until `forget_previous_secret()`."""
        previous = self.signature_secrets()[:1] if keep_previous else []
        self.signature_secrets_encrypted = encrypt(json.dumps([secret, *previous]))

    def forget_previous_secret(self):
        current = self.signature_secrets()[:1]
        self.signature_secrets_encrypted = encrypt(json.dumps(current)) if current else ""

    def set_recording_secret(self, secret):
        self.recording_secret_encrypted = encrypt(secret)

    def recording_request_options(self, url):
        """Headers and auth for fetching this channel's recording at `url` (recordings.auth in Advanced
        Config); the credential goes only to the hosts listed in recordings.auth.hosts, never to another."""
        auth = self.mapping.recordings.get("auth") or {"type": "none"}
        if auth["type"] == "none" or not outbound.host_is_listed(url, auth.get("hosts", [])):
            return {}
        secret = decrypt(self.recording_secret_encrypted)
        if auth["type"] == "basic":
            return {"auth": (auth.get("username", ""), secret)}
        if auth["type"] == "bearer":
            return {"headers": {"Authorization": f"Bearer {secret}"}}
        if auth["type"] == "header" and auth.get("header"):
            return {"headers": {auth["header"]: secret}}
        return {}

    def activity(self, hours=24):
        """What the channel's status panel shows: the last event, counts over `hours`, the last error."""
        since = timezone.now() - timedelta(hours=hours)
        events = RawEvent.objects.filter(channel=self)
        by_state = dict(events.filter(received_at__gte=since).values_list("state").annotate(n=models.Count("id")))
        last_error = events.exclude(error="").order_by("-received_at", "-id").first()
        return {
            "last_event_at": events.order_by("-received_at", "-id").values_list("received_at", flat=True).first(),
            "events": sum(by_state.values()),
            "failures": by_state.get(RawEvent.State.FAILED, 0) + by_state.get(RawEvent.State.REJECTED, 0),
            "dialogs": Dialog.objects.filter(channel=self, created_at__gte=since).count(),
            "last_error": last_error,
        }

    @property
    def body_token_path(self):
        """Where the body-token scheme's secret stands in a payload, or None for any other scheme."""
        config = self.mapping.authentication
        return config.get("path", "token") if config.get("scheme") == "body_token" else None

    def without_secrets(self, payload):
        """The payload with the body-token secret (scheme body_token) masked: it never leaves the webhook's
        check, not into stored events, the feed, an enrich action or a page."""
        path = self.body_token_path
        if path is None:
            return payload
        value = resolve_path(payload, path)
        return payload if value is MISSING else replaced_at_path(payload, path, masked(str(value)))

    def regenerate_token(self):
        self.token = new_token()
        self.save(update_fields=["token"])


MAX_CONTENT_TYPE = 200


class RawEvent(models.Model):
    """One webhook delivery exactly as received. The row is also the work queue: workers claim rows
    whose `available_at` has come, so an acknowledged event never depends on a broker."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        DUPLICATE = "duplicate", "Duplicate"
        IGNORED = "ignored", "Ignored (not a call)"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"

    # No index of its own: the event-log index starts with the channel (one index less on the hot path).
    channel = models.ForeignKey(TelephonyChannel, on_delete=models.CASCADE, related_name="raw_events", db_index=False)
    received_at = models.DateTimeField(default=timezone.now)
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    body = models.BinaryField()
    is_test = models.BooleanField(default=False, help_text="Sent by the channel's Test button.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    available_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "-received_at"], name="rawevent_channel_log"),
            models.Index(
                fields=["channel", "available_at"],
                name="rawevent_channel_queue",
                condition=models.Q(available_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"event {self.pk} on {self.channel_id} ({self.state})"

    @classmethod
    def receive(
        cls, channel, body, content_type="", headers=None, remote_addr=None, is_test=False, refusal="", parsed_body=None
    ):
        """Store a delivery: queued for processing, or rejected with the reason when it cannot be
        (`refusal`: the transport already knows why, e.g. a bad signature; `parsed_body`: its parsing.Body,
        when the caller parsed it already)."""
        event = cls(
            channel=channel,
            body=body,
            content_type=content_type[:MAX_CONTENT_TYPE],
            headers=headers or {},
            remote_addr=remote_addr,
            is_test=is_test,
        )
        if len(content_type) > MAX_CONTENT_TYPE:
            refusal = refusal or f"the Content-Type header is longer than {MAX_CONTENT_TYPE} characters"
        if refusal:
            event.reject(refusal)
        elif not channel.is_active:
            event.reject(f"channel '{channel.name}' is inactive: activate it in the admin to accept calls")
        else:
            _, problem = (parsed_body or Body(body, content_type, channel.data_format)).parsed
            if problem:
                event.reject(str(problem))
            else:
                event.available_at = event.received_at
        event.insert()
        return event

    INSERTED_FIELDS = (
        "channel",
        "received_at",
        "content_type",
        "headers",
        "remote_addr",
        "body",
        "is_test",
        "state",
        "available_at",
        "attempts",
        "error",
    )

    def insert(self):
        """One plain INSERT, the whole cost of storing a delivery on the webhook's hot path (sql.insert_row)."""
        postgresql = connection.vendor == "postgresql"
        moment = connection.ops.adapt_datetimefield_value
        values = [
            self.channel_id,
            self.received_at if postgresql else moment(self.received_at),
            self.content_type,
            json.dumps(self.headers, ensure_ascii=False),
            self.remote_addr,
            self.body,
            self.is_test,
            self.state,
            self.available_at if postgresql else moment(self.available_at),
            self.attempts,
            self.error,
        ]
        # JSON and the address go as text that the statement casts: psycopg's adapters cost more than the INSERT.
        self.pk = sql.insert_row(
            RawEvent, self.INSERTED_FIELDS, values, casts={"headers": "jsonb", "remote_addr": "inet"}
        )
        self._state.adding = False

    def reject(self, reason):
        self.state, self.error, self.available_at = self.State.REJECTED, reason, None

    @property
    def is_rejected(self):
        return self.state == self.State.REJECTED

    def payloads(self):
        """The delivery's events, with the channel's body-token secret masked: what is kept and shown."""
        payloads = parse_events(bytes(self.body), self.content_type, self.channel.data_format)
        return [self.channel.without_secrets(payload) for payload in payloads]

    def finish(self, state, error=""):
        self.state, self.error, self.available_at, self.processed_at = state, error, None, timezone.now()
        self.save(update_fields=["state", "error", "available_at", "processed_at"])

    def fail_attempt(self, error):
        """A transient failure: try again later with backoff, up to EVENT_MAX_ATTEMPTS attempts."""
        if self.attempts >= settings.EVENT_MAX_ATTEMPTS:
            self.finish(self.State.FAILED, f"gave up after {self.attempts} attempts: {error}")
            return
        self.state, self.error = self.State.RECEIVED, error
        self.available_at = timezone.now() + timedelta(seconds=10 * 2**self.attempts)
        self.save(update_fields=["state", "error", "available_at"])

    def requeue(self):
        """Process this event again (after the mapping was fixed); dialogs are updated, never doubled."""
        self.state, self.error, self.attempts, self.available_at = self.State.RECEIVED, "", 0, timezone.now()
        self.save(update_fields=["state", "error", "attempts", "available_at"])


class SqsQueue(models.Model):
    """Where a channel with the SQS transport pulls its events from, and how that is going."""

    channel = models.OneToOneField(TelephonyChannel, on_delete=models.CASCADE, related_name="sqs_queue")
    queue_url = models.URLField(max_length=500)
    region = models.CharField(max_length=40, default="us-east-1")
    access_key_id = models.CharField("access key id", max_length=128)
    secret_access_key_encrypted = models.TextField(editable=False, blank=True)
    endpoint_url = models.URLField(blank=True, help_text="Only for SQS-compatible services other than AWS.")
    require_signature = models.BooleanField(
        default=True,
        help_text="Refuse messages without a valid X-SIGNATURE attribute (HMAC-SHA256 of the body with the secret "
        "access key), as Wildix signs them.",
    )
    last_poll_at = models.DateTimeField(null=True, blank=True)
    messages_received = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SQS queue"

    def __str__(self):
        return self.queue_url

    @property
    def secret_access_key(self):
        return decrypt(self.secret_access_key_encrypted)

    def set_secret_access_key(self, secret):
        self.secret_access_key_encrypted = encrypt(secret)

    def status_text(self):
        if self.last_error:
            return f"Error since {self.last_error_at:%Y-%m-%d %H:%M:%S}: {self.last_error}"
        if self.last_poll_at:
            return (
                f"Polling: last poll {self.last_poll_at:%Y-%m-%d %H:%M:%S}, {self.messages_received} messages received"
            )
        return "Not polled yet: is the SQS consumer (manage.py consume_sqs) running?"
