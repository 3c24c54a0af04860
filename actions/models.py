from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .kinds import KINDS, parameter_errors, timed

KIND_CHOICES = [(name, kind.label) for name, kind in KINDS.items()]


class Action(models.Model):
    """An Action Jail action: enrichment logic an administrator keeps outside the code."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default="http")
    parameters = models.JSONField(default=dict, blank=True)
    secrets = models.JSONField(
        default=dict, blank=True, help_text="API keys and passwords: never shown again, never logged."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = parameter_errors(self.kind, self.parameters)
        if errors:
            raise ValidationError({"parameters": errors})

    def lease_seconds(self):
        """How long a run may hold its dialog: the kind's longest run and a margin; after that it is
        taken for dead and run again."""
        return KINDS[self.kind].longest_run(self.parameters) + settings.ENRICHMENT_LEASE_MARGIN

    def run(self, state):
        """Run the action on a call's state (a real call's, or an action test's): an ActionResult."""
        return timed(KINDS[self.kind].run, self.parameters, self.secrets or {}, state)


class EnrichmentRun(models.Model):
    """One run of a channel's enrich action for a dialog: what it did and how it ended."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"

    dialog = models.ForeignKey("dialogs.Dialog", on_delete=models.CASCADE, related_name="enrichment_runs")
    action = models.ForeignKey(Action, null=True, on_delete=models.SET_NULL, related_name="runs")
    action_name = models.CharField(max_length=200)
    started_at = models.DateTimeField(default=timezone.now)
    duration = models.FloatField(help_text="Seconds.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error = models.TextField(blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    request = models.JSONField(null=True, blank=True, help_text="As sent, secrets masked.")
    response = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.action_name}: {self.outcome}"

    @classmethod
    def record(cls, dialog, action, result):
        return cls.objects.create(
            dialog=dialog,
            action=action,
            action_name=action.name,
            duration=round(result.duration, 3),
            outcome=cls.Outcome.SUCCESS if result.ok else cls.Outcome.FAILED,
            error=result.error,
            outputs=result.outputs,
            request=result.request,
            response=result.response,
        )
