import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from accounts.models import User
from connective.lib.sql import insert_many, insert_many_unless_exist, lock_in_order, update_many

from .calls import CallEventView, IncomingEvent, fold
from .numbers import to_e164


class Topic(models.Model):
    """What a call is about; enrichment names it by alias."""

    alias = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


@dataclass
class DialogChanges:
    """What a change of dialogs made happen, by dialog id: the caller hands it, after its commit, to the
    features that act on it (enrichment, recordings, and whatever comes next). The model never calls them."""

    created: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    to_enrich: list[int] = field(default_factory=list)  # completed calls whose enrich action is to run
    media_changed: list[int] = field(default_factory=list)  # recording, transcript or awaited transcription

    def add(self, other):
        for name in ("created", "changed", "completed", "to_enrich", "media_changed"):
            getattr(self, name).extend(pk for pk in getattr(other, name) if pk not in getattr(self, name))
        return self


@dataclass
class MergeResult:
    merged: dict[tuple, list[bool]]  # {(channel, call_id): whether each of its events was merged}
    changes: DialogChanges


class EnrichmentState(models.TextChoices):
    NONE = "none", "No enrich action"
    PENDING = "pending", "Pending"
    DONE = "done", "Enriched"
    FAILED = "failed", "Failed"


class DialogQuerySet(models.QuerySet):
    def visible_to(self, user):
        """What a user may see: staff everything, an operator the dialogs of the bots they are a member of."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(channel__bot__members=user)

    def in_panel(self):
        """Dialogs the operator panel shows: complete and enriched."""
        return self.filter(ready_at__isnull=False)


class Dialog(models.Model):
    """One call on one channel, however many events the provider sent for it."""

    channel = models.ForeignKey("channels_app.TelephonyChannel", on_delete=models.CASCADE, related_name="dialogs")
    call_id = models.CharField(max_length=255)
    direction = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=64, blank=True)
    caller_number = models.CharField(max_length=64, blank=True)
    callee_number = models.CharField(max_length=64, blank=True)
    caller_number_valid = models.BooleanField(default=True, help_text="False: not a valid number, kept as sent.")
    callee_number_valid = models.BooleanField(default=True, help_text="False: not a valid number, kept as sent.")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds.")
    started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    recording_url = models.URLField(max_length=2000, blank=True)
    transcript = models.TextField(blank=True)
    operator_ref = models.CharField(
        "operator as sent", max_length=255, blank=True, help_text="The provider's operator id (an email)."
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="dialogs"
    )
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.SET_NULL, related_name="dialogs")
    is_test = models.BooleanField(default=False, help_text="Made by the channel's Test button.")
    extra = models.JSONField(default=dict, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When the call's final event came.")
    enrichment_state = models.CharField(max_length=16, choices=EnrichmentState.choices, default=EnrichmentState.NONE)
    enrichment_queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When an enrichment task was last queued."
    )
    enrichment_lease_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="An enrichment task runs the action until then; after it, the first worker to see it retries.",
    )
    enrichment_attempts = models.PositiveSmallIntegerField(default=0)
    ready_at = models.DateTimeField(
        null=True, blank=True, help_text="When the dialog appeared in the operator panel: complete, and enriched."
    )
    transcription_claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A transcription task works on this call until then; after it, the sweep may retry.",
    )
    transcription_attempts = models.PositiveSmallIntegerField(default=0)
    awaiting_transcription = models.BooleanField(
        default=False, help_text="Auto transcription should run once the recording is available."
    )
    completed_by_sweep = models.BooleanField(default=False)
    last_event_at = models.DateTimeField(default=timezone.now)
    number_digits = models.CharField(
        max_length=140, blank=True, editable=False, help_text="The digits of both numbers, for the number search."
    )
    customer_key = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="The customer's number as the caller card matches it: E.164 when valid, else its digits.",
    )
    caller_lookup = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="The caller lookup action's run: state (pending, done, failed), outputs, error, at.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DialogQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["channel", "call_id"], name="dialog_one_per_call")]
        indexes = [
            models.Index(
                fields=["last_event_at"], name="dialog_incomplete", condition=models.Q(completed_at__isnull=True)
            ),
            # The operator panel's history, newest first, for staff and per channel for operators.
            models.Index(
                fields=["-started_at", "-id"], name="dialog_panel", condition=models.Q(ready_at__isnull=False)
            ),
            models.Index(
                fields=["channel", "-started_at", "-id"],
                name="dialog_panel_channel",
                condition=models.Q(ready_at__isnull=False),
            ),
            models.Index(
                fields=["status", "-started_at", "-id"],
                name="dialog_panel_status",
                condition=models.Q(ready_at__isnull=False),
            ),
            # The worker looks for expired enrichment leases on every round: only pending dialogs are indexed.
            models.Index(
                fields=["enrichment_lease_until"],
                name="dialog_enrichment_pending",
                condition=models.Q(enrichment_state="pending"),
            ),
            # The caller card: a number's earlier calls, newest first.
            models.Index(fields=["customer_key", "-started_at", "-id"], name="dialog_customer_history"),
        ]

    is_new = False  # set on a dialog created by this merge

    def __str__(self):
        return f"{self.call_id} ({self.status or 'in progress'})"

    @property
    def is_complete(self):
        return self.completed_at is not None

    @property
    def customer_number(self):
        """The other party: the caller of an incoming call, the callee of an outgoing one."""
        return self.callee_number if self.direction == "out" else self.caller_number

    @property
    def has_recording(self):
        return bool(self.recording_url)

    @classmethod
    def merge_calls(cls, calls: dict[tuple, list[IncomingEvent]], stored_elsewhere: dict | None = None) -> MergeResult:
        """Merge mapped provider events into their calls' dialogs in one transaction: the one way events
        become dialogs.

        `calls`: {(channel, call_id): [IncomingEvent]}. Returns a MergeResult: whether each event was merged
        (False: already merged from another delivery, a provider's retry), and the DialogChanges for the
        caller to hand over after the commit. The calls' dialogs are locked, so parallel workers never make
        two dialogs nor lose an update, and a batch costs a handful of statements whatever its size.
        `stored_elsewhere`: {(channel id, fingerprint): CallEvent} of these events already stored when the
        batch began (None: look them up here).
        """
        if not calls:
            return MergeResult({}, DialogChanges())
        with transaction.atomic():
            dialogs = cls.locked_for_calls(list(calls))
            stored = cls.stored_events(dialogs.values())
            if stored_elsewhere is None:
                stored_elsewhere = CallEvent.stored_copies(calls.items())
            outcomes, new_events, moved, changed = {}, [], [], []
            for key, items in calls.items():
                dialog = dialogs[key]
                outcomes[key] = dialog.take_items(items, stored[dialog.pk], stored_elsewhere, new_events, moved)
                if any(outcomes[key]):
                    changed.append(dialog)
            for old_dialog_pk, fingerprint in moved:  # a dialog of this batch that lost an event folds without it
                stored.get(old_dialog_pk, {}).pop(fingerprint, None)
            insert_many(new_events)
            media_changed = [dialog.pk for dialog in changed if dialog.refold(list(stored[dialog.pk].values()))]
            now = timezone.now()
            for dialog in changed:
                dialog.updated_at = now
            update_many(changed, MERGED_FIELDS)
            LiveUpdate.announce([dialog.pk for dialog in changed])
            FeedMessage.objects.bulk_create(
                [message for dialog in dialogs.values() for message in dialog.unwritten_notes]
            )
            for dialog in dialogs.values():
                dialog.unwritten_notes = None  # from now on a note is written at once
            changes = DialogChanges(
                created=[dialog.pk for dialog in dialogs.values() if dialog.is_new],
                changed=[dialog.pk for dialog in changed],
                media_changed=media_changed,
            )
            for dialog in dialogs.values():
                changes.add(dialog.changes)
            for pk in {old_dialog_pk for old_dialog_pk, _ in moved}:  # rare: read again, this batch changed them
                moved_from = cls.objects.select_for_update().get(pk=pk)
                moved_from.rebuild_or_delete()
                changes.add(moved_from.changes)
                LiveUpdate.announce([pk])
        return MergeResult(outcomes, changes)

    def take_items(self, items, events, stored_elsewhere, new_events, moved):
        """Take a call's new events (see merge_calls) into `events`, {fingerprint: CallEvent} of this dialog;
        whether each was merged. Events taken from another dialog are added to `moved` as (its pk, fingerprint)."""
        merged = []
        for item in items:
            raw_event, position, payload, mapped = item.raw_event, item.position, item.payload, item.mapped
            fingerprint = fingerprint_of(payload)
            event = events.get(fingerprint) or stored_elsewhere.pop((self.channel_id, fingerprint), None)
            if event and (event.raw_event_id, event.position) != (raw_event.pk, position):
                merged.append(False)  # the same event from another delivery
                continue
            if event is None:
                event = CallEvent(channel=self.channel, fingerprint=fingerprint, raw_event=raw_event, position=position)
                new_events.append(event)
                event.take(self, payload, mapped, save=False)
            else:  # processed again (a requeue), or merged under another call id before the mapping was fixed
                if event.dialog_id != self.pk:
                    moved.append((event.dialog_id, fingerprint))
                event.take(self, payload, mapped)
            events[fingerprint] = event
            self.is_test = self.is_test or raw_event.is_test
            for key, text in mapped.notes:
                self.note(key, text)
            merged.append(True)
        return merged

    @classmethod
    def locked_for_calls(cls, keys):
        """{(channel, call_id): its dialog}, locked for this transaction; the missing ones are created."""
        lock_in_order(f"dialog:{channel.pk}:{call_id}" for channel, call_id in keys)
        by_channel = {}
        for channel, call_id in keys:
            by_channel.setdefault(channel.pk, []).append(call_id)
        wanted = reduce(or_, (models.Q(channel_id=pk, call_id__in=ids) for pk, ids in by_channel.items()))
        found = {
            (dialog.channel_id, dialog.call_id): dialog for dialog in cls.objects.select_for_update().filter(wanted)
        }
        missing = [
            cls(channel=channel, call_id=call_id) for channel, call_id in keys if (channel.pk, call_id) not in found
        ]
        for dialog in insert_many_unless_exist(missing, conflict_fields=["channel", "call_id"]):
            dialog.is_new, dialog.noted_keys = True, set()  # no events, no feed yet; our insert locks the row
            found[(dialog.channel_id, dialog.call_id)] = dialog
        # Fewer than asked: another worker created some between our read and our insert (SQLite: no advisory locks).
        if len(found) < len(keys):
            found.update(
                {
                    (dialog.channel_id, dialog.call_id): dialog
                    for dialog in cls.objects.select_for_update().filter(wanted)
                }
            )
        dialogs = {}
        for channel, call_id in keys:
            dialog = dialogs[(channel, call_id)] = found[(channel.pk, call_id)]
            dialog.channel = channel  # the same object: its parsed mapping is reused across a batch
            dialog.unwritten_notes = []
        return dialogs

    @staticmethod
    def stored_events(dialogs):
        """{dialog pk: {fingerprint: CallEvent}} of the dialogs' stored events (none for new dialogs)."""
        stored = {dialog.pk: {} for dialog in dialogs}
        existing = [dialog.pk for dialog in dialogs if not dialog.is_new]
        if existing:
            for event in CallEvent.objects.filter(dialog_id__in=existing).defer("payload"):
                stored[event.dialog_id][event.fingerprint] = event
        return stored

    def rebuild(self, events=None):
        """Recompute the dialog from all its events and save it, so arrival order and replays never matter."""
        media_changed = self.refold(events)
        self.save()
        if media_changed:
            self.changes.media_changed.append(self.pk)

    def refold(self, events=None):
        """Recompute the dialog's fields from all its events (`events`: its CallEvents when the caller has
        them at hand already), unsaved; whether the recording or the transcript changed."""
        events = [event.view() for event in (self.events.all() if events is None else events)]
        media_before = (self.recording_url, self.transcript)
        state = self.take_events(events)
        self.last_event_at = max((event.received_at for event in events), default=self.last_event_at)
        if state.is_complete and not self.completed_at:
            self.completed_at = timezone.now()
            self.changes.completed.append(self.pk)
            self.became_complete()
        return (self.recording_url, self.transcript) != media_before

    @property
    def changes(self):
        """What happened to this dialog since it was loaded, for its caller to hand over (DialogChanges)."""
        if "_changes" not in self.__dict__:
            self._changes = DialogChanges()
        return self._changes

    @classmethod
    def preview(cls, raw_event):
        """The dialog a stored delivery alone would give, unsaved: what an action test runs on.
        Raises MappingError when the channel's mapping cannot read it."""
        channel, payloads = raw_event.channel, raw_event.payloads()
        mapped = [channel.mapping.map(payload) for payload in payloads]
        dialog = cls(channel=channel, call_id=mapped[0].call_id, is_test=raw_event.is_test)
        dialog.take_events(
            [CallEventView(m.fields, m.extra, raw_event.received_at, (0, i)) for i, m in enumerate(mapped)]
        )
        return dialog, payloads

    def take_events(self, events):
        mapping = self.channel.mapping
        state = fold(events, one_event_per_call=not mapping.has_status, swept=self.completed_by_sweep)
        self.direction, self.status = state.direction or "", state.status
        self.duration = state.duration
        self.started_at, self.answered_at, self.ended_at = state.started_at, state.answered_at, state.ended_at
        self.caller_number, self.caller_number_valid = self.normalised_number(
            "caller", state.caller_number, (self.caller_number, self.caller_number_valid)
        )
        self.callee_number, self.callee_number_valid = self.normalised_number(
            "callee", state.callee_number, (self.callee_number, self.callee_number_valid)
        )
        self.number_digits = " ".join(digits_of(number) for number in (self.caller_number, self.callee_number))
        self.customer_key = customer_key_of(self)
        if mapping.recordings["enabled"]:
            self.recording_url = state.recording_url
        if mapping.transcription["enabled"] and mapping.transcription["source"] == "provider":
            self.transcript = transcript_text(state.transcript)
        self.extra = {**state.extra, **self.enrichment_extra()}
        self.assign_operator(state.operator_id)
        return state

    def rebuild_or_delete(self):
        """After an event moved to another call (a fixed mapping), rebuild what is left, or drop an empty shell."""
        if self.events.exists():
            self.rebuild()
        else:
            self.delete()

    def normalised_number(self, party, number, previous=("", True)):
        if not number:
            return "", True
        if previous == (number, False):
            return previous  # kept as sent, and noted, before
        e164 = to_e164(number, self.channel.default_country_code)
        if e164:
            return e164, True
        self.note(
            f"bad-number:{party}:{number}", f"The {party} number '{number}' is not a valid phone number; kept as sent."
        )
        return number, False

    def assign_operator(self, operator_ref):
        if self.enrichment_state in (EnrichmentState.DONE, EnrichmentState.FAILED):
            return  # enrichment has the last word on the operator
        if (operator_ref or "") == self.operator_ref:
            return  # looked up when it first came

        self.operator_ref = operator_ref or ""
        self.operator = User.objects.active_by_email(operator_ref)
        if operator_ref and self.operator is None:
            self.note(
                f"operator-not-found:{operator_ref}",
                f"No active user has the email '{operator_ref}'; the dialog is left unassigned.",
            )

    def became_complete(self):
        """The call is over: enrich it first if the channel says so, else show it to operators now."""
        if self.channel.enrich_action_id:
            self.enrichment_state = EnrichmentState.PENDING
            self.enrichment_queued_at, self.enrichment_lease_until, self.enrichment_attempts = timezone.now(), None, 0
            self.changes.to_enrich.append(self.pk)
        else:
            self.make_ready()

    def make_ready(self):
        self.ready_at = timezone.now()
        self.awaiting_transcription = self.channel.auto_transcription and self.operator_id is not None
        if self.awaiting_transcription and self.pk:
            self.changes.media_changed.append(self.pk)

    def finish_without_enrichment(self):
        self.enrichment_state, self.enrichment_lease_until = EnrichmentState.NONE, None
        self.make_ready()
        self.save()
        LiveUpdate.announce([self.pk])

    def apply_enrichment(self, outputs, error):
        """Take what the enrich action gave (or how it failed), then let operators see the dialog."""
        self.enrichment_lease_until = None
        if error:
            self.enrichment_state = EnrichmentState.FAILED
            self.note("enrichment-failed", f"enrichment failed: {error}")
            self.operator = None
            if self.channel.enrich_error_action == self.channel.EnrichErrorAction.ASSIGN_ADMIN:
                self.assign_default_operator()
        else:
            self.enrichment_state = EnrichmentState.DONE
            if "operator_email" in outputs:
                self.assign_operator_by_email(outputs["operator_email"])
            if "topic_alias" in outputs:
                self.assign_topic(outputs["topic_alias"])
            self.extra = {**self.extra, **extra_outputs(outputs)}
        self.make_ready()
        self.save()
        LiveUpdate.announce([self.pk])

    def assign_operator_by_email(self, email):
        self.operator = User.objects.active_by_email(str(email))
        if self.operator is None:
            self.note(
                f"enriched-operator-not-found:{email}",
                f"Enrichment named the operator '{email}', but no active user has that email; the dialog is left unassigned.",
            )

    def assign_topic(self, alias):
        self.topic = Topic.objects.filter(alias=str(alias)).first()
        if self.topic is None:
            self.note(f"topic-not-found:{alias}", f"Enrichment named the topic '{alias}', but no topic has that alias.")

    def assign_default_operator(self):
        user_id = settings.TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID
        self.operator = User.objects.filter(pk=user_id, is_active=True).first()
        if self.operator is None:
            self.note(
                "default-operator-missing",
                f"No active user has the id {user_id} (TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID); the dialog is left unassigned.",
            )

    def enrichment_extra(self):
        """Extra fields the enrich action gave: kept when later events rebuild the dialog."""
        if self.enrichment_state != EnrichmentState.DONE:
            return {}
        run = self.enrichment_runs.filter(outcome="success").order_by("-started_at", "-id").first()
        return extra_outputs(run.outputs) if run else {}

    def call_state(self, payloads=None):
        """The call as one JSON document, the input of enrich actions (and of an action test)."""
        channel = self.channel
        moments = {name: getattr(self, name) for name in ("started_at", "answered_at", "ended_at")}
        return {
            "telephony": {
                **self.extra,
                "call_id": self.call_id,
                "direction": self.direction,
                "status": self.status,
                "caller_number": self.caller_number,
                "callee_number": self.callee_number,
                "operator_id": self.operator_ref,
                "duration": self.duration,
                **{name: moment.isoformat() if moment else None for name, moment in moments.items()},
                "recording_url": self.recording_url,
                "transcript_text": self.transcript,
            },
            "payloads": payloads if payloads is not None else [event.payload for event in self.events.all()],
            "channel": {"id": channel.pk, "name": channel.name, "default_country_code": channel.default_country_code},
            "bot": {"id": channel.bot_id, "name": channel.bot.name},
        }

    @classmethod
    def claim_enrichment(cls, dialog_id, lease_seconds):
        """Lease a pending enrichment to the calling task, unless another task holds it now: one conditional
        UPDATE, so of two tasks delivered at once only one runs the action. Whether it was claimed."""
        now = timezone.now()
        return bool(
            cls.objects.filter(pk=dialog_id, enrichment_state=EnrichmentState.PENDING)
            .filter(models.Q(enrichment_lease_until__isnull=True) | models.Q(enrichment_lease_until__lte=now))
            .update(
                enrichment_lease_until=now + timedelta(seconds=lease_seconds),
                enrichment_attempts=models.F("enrichment_attempts") + 1,
            )
        )

    @classmethod
    def stale_enrichments(cls, now=None, changes=None):
        """The pending enrichments whose task died (its lease ran out) or was lost by the broker (queued
        ENRICHMENT_REQUEUE_AFTER ago and never started), each marked queued again for the caller to queue;
        after ENRICHMENT_MAX_ATTEMPTS runs that died, the dialog appears with the failure instead (its
        DialogChanges added to `changes`). One query on an index of the pending dialogs: cheap enough for every
        round of the event worker. (ids to queue again, number given up)"""
        now = now or timezone.now()
        expired = models.Q(enrichment_lease_until__lte=now)
        cutoff = now - timedelta(seconds=settings.ENRICHMENT_REQUEUE_AFTER)
        lost = models.Q(enrichment_lease_until__isnull=True) & (
            models.Q(enrichment_queued_at__lt=cutoff)
            | models.Q(enrichment_queued_at__isnull=True, completed_at__lt=cutoff)  # queued before the lease existed
        )
        stale = cls.objects.filter(expired | lost, enrichment_state=EnrichmentState.PENDING)
        again, given_up = [], 0
        for pk, attempts in stale.values_list("pk", "enrichment_attempts")[:500]:
            if attempts >= settings.ENRICHMENT_MAX_ATTEMPTS:
                given_up += cls.give_up_enrichment(pk, attempts, now, changes)
            elif stale.filter(pk=pk).update(enrichment_lease_until=None, enrichment_queued_at=now):  # not another's
                again.append(pk)
        return again, given_up

    @classmethod
    def keep_caller_lookup(cls, dialog_ids, lookup):
        """Store the state of the dialogs' caller lookup (see actions/lookup.py): one UPDATE of that column
        alone, which a merge never writes, so neither waits for nor undoes the other's work."""
        return cls.objects.filter(pk__in=dialog_ids).update(caller_lookup=lookup)

    @classmethod
    def give_up_enrichment(cls, pk, attempts, now, changes=None):
        with transaction.atomic():
            dialog = cls.objects.select_for_update().filter(pk=pk, enrichment_state=EnrichmentState.PENDING).first()
            if dialog is None or (dialog.enrichment_lease_until or now) > now:  # claimed again meanwhile
                return 0
            dialog.apply_enrichment({}, f"the enrich action's task died {attempts} times before it finished")
        if changes is not None:
            changes.add(dialog.changes)
        return 1

    def note(self, key, text):
        """Add a service message to the feed once, however often the same thing is noticed."""
        if self.pk is None:
            return  # a preview: nothing to keep
        if len(key) > 255:
            key = key[:190] + hashlib.sha256(key.encode()).hexdigest()
        noted = self.__dict__.get("noted_keys")
        if noted is None:
            noted = self.noted_keys = set(self.messages.values_list("key", flat=True))
        if key not in noted:  # the dialog row is locked: no one else writes its feed now
            message = FeedMessage(dialog=self, key=key, text=text)
            if self.__dict__.get("unwritten_notes") is None:
                message.save()
            else:
                self.unwritten_notes.append(message)  # a merge writes its batch's messages at once
            noted.add(key)

    def feed(self):
        """The call's events and the service messages, oldest first."""
        entries = [(event.received_at, "event", event) for event in self.events.all()]
        entries += [(message.created_at, "service", message) for message in self.messages.all()]
        return sorted(entries, key=lambda entry: entry[0])

    @classmethod
    def complete_stale(cls, now=None, changes=None):
        """Complete calls whose terminal event never came, so no call stays invisible; their DialogChanges
        are added to `changes`. The number completed."""
        now = now or timezone.now()
        timeout = settings.CALL_COMPLETION_TIMEOUT
        stale = cls.objects.filter(completed_at__isnull=True, last_event_at__lt=now - timedelta(seconds=timeout))
        completed = 0
        for pk in stale.values_list("pk", flat=True)[:500]:
            with transaction.atomic():
                dialog = cls.objects.select_for_update().filter(pk=pk, completed_at__isnull=True).first()
                if dialog is None:
                    continue
                dialog.completed_by_sweep = True
                dialog.note(
                    "completed-by-sweep",
                    f"No final event arrived within {timeout // 60} minutes; the call was completed as it stood.",
                )
                dialog.rebuild()
                LiveUpdate.announce([pk])
                completed += 1
            if changes is not None:
                changes.add(dialog.changes)
        return completed


# What merging events may change in a dialog: all but its identity, and the caller lookup, which its own
# thread writes with one UPDATE of that column (Dialog.keep_caller_lookup).
MERGED_FIELDS = [
    field.name
    for field in Dialog._meta.concrete_fields
    if field.name not in ("id", "channel", "call_id", "created_at", "caller_lookup")
]


def digits_of(number):
    return "".join(character for character in number or "" if character.isdigit())[:69]


def customer_party(dialog):
    """The customer's number (see Dialog.customer_number), and whether it is valid (else kept as sent)."""
    if dialog.direction == "out":
        return dialog.callee_number, dialog.callee_number_valid
    return dialog.caller_number, dialog.caller_number_valid


def customer_key_of(dialog):
    """The customer's number as the caller card matches a number's calls: E.164 when it is valid, else
    its digits only."""
    number, valid = customer_party(dialog)
    return number if valid else digits_of(number)


def extra_outputs(outputs):
    return {name: value for name, value in outputs.items() if name not in ("operator_email", "topic_alias")}


def fingerprint_of(payload):
    """Two deliveries of the same provider event carry the same payload; key order does not matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def transcript_text(transcript):
    """A provider's transcript as readable text; speaker turns become one line each."""
    if transcript in (None, ""):
        return ""
    if isinstance(transcript, str):
        return transcript
    segments = transcript_segments(transcript)
    if segments:
        return "\n".join(f"{turn['speaker']}: {turn['text']}" if turn["speaker"] else turn["text"] for turn in segments)
    return json.dumps(transcript, ensure_ascii=False)


def transcript_segments(transcript):
    """Speaker turns of a provider's transcript: a list (or {"segments"/"chunks": list}) of objects with text."""
    if isinstance(transcript, dict):
        transcript = transcript.get("segments") or transcript.get("chunks") or transcript.get("transcription")
    if not isinstance(transcript, list):
        return []
    return [
        {
            "speaker": str(turn.get("speaker") or turn.get("role") or turn.get("name") or ""),
            "start": turn.get("start"),
            "end": turn.get("end"),
            "text": turn["text"],
        }
        for turn in transcript
        if isinstance(turn, dict) and isinstance(turn.get("text"), str)
    ]


class CallEvent(models.Model):
    """One provider event of a call, as mapped: the call's timeline, and what its dialog is folded from."""

    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="events")
    channel = models.ForeignKey("channels_app.TelephonyChannel", on_delete=models.CASCADE, related_name="+")
    raw_event = models.ForeignKey("channels_app.RawEvent", on_delete=models.CASCADE, related_name="call_events")
    position = models.PositiveIntegerField(default=0, help_text="Index of the event in its delivery's body.")
    fingerprint = models.CharField(max_length=64)
    payload = models.JSONField()
    fields = models.JSONField(default=dict)
    extra = models.JSONField(default=dict)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [models.UniqueConstraint(fields=["channel", "fingerprint"], name="callevent_once_per_channel")]

    @classmethod
    def stored_copies(cls, calls):
        """{(channel id, fingerprint): CallEvent} of the events of `calls` ((channel, call_id), items) that
        are stored already: a provider's retries, or events merged before."""
        channels, fingerprints = set(), set()
        for (channel, _), items in calls:
            channels.add(channel.pk)
            fingerprints.update(fingerprint_of(item.payload) for item in items)
        if not fingerprints:
            return {}
        copies = cls.objects.filter(channel_id__in=channels, fingerprint__in=fingerprints)
        return {(event.channel_id, event.fingerprint): event for event in copies}

    def take(self, dialog, payload, mapped, save=True):
        self.dialog, self.payload, self.fields, self.extra = dialog, payload, mapped.fields, mapped.extra
        self.received_at = self.raw_event.received_at
        if save:
            self.save()

    def view(self):
        return CallEventView(self.fields, self.extra, self.received_at, (self.raw_event_id, self.position))

    @property
    def status(self):
        return self.fields.get("status", "")

    def summary(self):
        """The event in a line of the feed: its status and what it says about the call."""
        parts = [self.fields.get("status") or "event"]
        if self.fields.get("caller_number") or self.fields.get("callee_number"):
            parts.append(f"{self.fields.get('caller_number', '?')} → {self.fields.get('callee_number', '?')}")
        if self.fields.get("duration") is not None:
            parts.append(f"{self.fields['duration']} s")
        return " · ".join(str(part) for part in parts)


class FeedMessage(models.Model):
    """A service message in a dialog's feed, e.g. "enrichment failed: …"."""

    dialog = models.ForeignKey(Dialog, on_delete=models.CASCADE, related_name="messages")
    key = models.CharField(max_length=255, help_text="What the message is about; one message per key.")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["dialog", "key"], name="feedmessage_once_per_key")]

    def __str__(self):
        return self.text


class LiveUpdate(models.Model):
    """ "This dialog changed", written in the transaction of the change: the operator panel's live streams read
    the dialog's state as it is then. The ids order the changes, so a stream that lost its connection resumes
    after the last one it saw (Last-Event-ID); the oldest rows are dropped by the worker's sweep."""

    id = models.BigAutoField(primary_key=True)
    dialog_id = models.BigIntegerField()  # not a foreign key: a deleted dialog leaves a change the stream skips
    created_at = models.DateTimeField(default=timezone.now)

    NOTIFY_CHANNEL = "connective_live"

    @classmethod
    def announce(cls, dialog_ids):
        """Record that these dialogs changed; on PostgreSQL the open streams are woken when the change commits."""
        if not dialog_ids:
            return
        now = timezone.now()
        cls.objects.bulk_create([cls(dialog_id=pk, created_at=now) for pk in dialog_ids])
        connection = transaction.get_connection()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", [cls.NOTIFY_CHANNEL])

    @classmethod
    def latest_id(cls):
        return cls.objects.aggregate(latest=models.Max("id"))["latest"] or 0

    @classmethod
    def prune(cls, keep=None):
        """Drop all but the newest `keep` changes (LIVE_UPDATES_KEPT): enough for any reconnect; a stream that
        was away longer gets the whole board instead. The number dropped."""
        keep = settings.LIVE_UPDATES_KEPT if keep is None else keep
        boundary = cls.latest_id() - keep
        return cls.objects.filter(id__lte=boundary).delete()[0] if boundary > 0 else 0
