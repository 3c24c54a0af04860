import json
import re

from django import forms

from channels_app.models import RawEvent
from connective.lib.widgets import PrettyJSONWidget

from .models import Action

SAMPLE_STATE = {
    "telephony": {
        "call_id": "c-1001",
        "direction": "in",
        "status": "answered",
        "caller_number": "+380501234567",
        "callee_number": "+380441234567",
        "operator_id": "operator@example.com",
        "duration": 62,
        "started_at": "2026-01-15T09:30:00+00:00",
        "answered_at": "2026-01-15T09:30:05+00:00",
        "ended_at": "2026-01-15T09:31:07+00:00",
        "recording_url": "",
        "transcript_text": "",
    },
    "payloads": [],
    "channel": {"id": 1, "name": "Main telephony", "default_country_code": "+380"},
    "bot": {"id": 1, "name": "Demo bot"},
}


class ActionForm(forms.ModelForm):
    new_secrets = forms.JSONField(
        required=False,
        widget=PrettyJSONWidget(rows=4),
        label="Set secrets",
        help_text='Write-only. A JSON object such as {"token": "…"} or {"password": "…"}: each name replaces or adds '
        "that secret, null removes it. Empty keeps the secrets as they are. The http kind uses 'token' for "
        "bearer and header authentication and 'password' for basic; header templates may read {{ secrets.NAME }} "
        "(the URL, query and body may not). Whoever may edit this action decides where its requests go.",
    )

    class Meta:
        model = Action
        fields = ["name", "description", "kind", "parameters"]
        widgets = {"parameters": PrettyJSONWidget()}

    def clean(self):
        data = super().clean()
        parameters = data.get("parameters")
        is_http_url = (
            data.get("kind") == "http" and isinstance(parameters, dict) and isinstance(parameters.get("url"), str)
        )
        if is_http_url and (problem := url_problem(parameters["url"])):
            self.add_error("parameters", f"url: {problem}")
        return data

    def clean_new_secrets(self):
        value = self.cleaned_data.get("new_secrets")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, (str, type(None))) for v in value.values()):
            raise forms.ValidationError("Write a JSON object whose values are text (or null to remove a secret).")
        return value

    def save(self, commit=True):
        action = super().save(commit=False)
        secrets = dict(action.secrets or {})
        for name, value in self.cleaned_data.get("new_secrets", {}).items():
            if value is None:
                secrets.pop(name, None)
            else:
                secrets[name] = value
        action.secrets = secrets
        if commit:
            action.save()
        return action


TEMPLATE_EXPRESSION = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
LITERAL_HTTP_URL = re.compile(r"^https?://[^/\\\s@?#]+([/?#]|$)", re.IGNORECASE)


def url_problem(url):
    """Why an action's URL template can never be called, or "": only http(s), with the host right after
    the scheme and no user name, password, backslash or space outside the placeholders. Where the
    address is allowed to go is checked when it is called."""
    literal = TEMPLATE_EXPRESSION.sub("x", url)
    scheme = literal.split(":", 1)[0].strip().lower() if ":" in literal else ""
    if scheme not in ("http", "https"):
        return f"only http:// and https:// URLs can be called, not '{url[:80]}'"
    if "\\" in literal or any(char.isspace() for char in literal):
        return "a URL cannot contain backslashes or spaces (outside {{ }} placeholders)"
    if not LITERAL_HTTP_URL.match(literal):
        return "write the host right after the scheme, without a user name or password (https://crm.example/…)"
    return ""


class ActionTestForm(forms.Form):
    state = forms.CharField(
        required=False,
        widget=PrettyJSONWidget(rows=18),
        label="Call state (JSON)",
        help_text="The full state, or just a telephony block (then the rest is empty).",
    )
    raw_event = forms.ModelChoiceField(
        queryset=RawEvent.objects.none(),
        required=False,
        label="…or a stored webhook event",
        help_text="Runs on the call this delivery alone would give, mapped by its channel's Advanced Config.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = RawEvent.objects.exclude(state=RawEvent.State.REJECTED).order_by("-id")
        recent_ids = list(stored.values_list("pk", flat=True)[:50])
        self.fields["raw_event"].queryset = stored.filter(pk__in=recent_ids).select_related("channel")
        self.fields["raw_event"].label_from_instance = lambda event: (
            f"#{event.pk} · {event.channel.name} · {event.received_at:%Y-%m-%d %H:%M:%S} · {event.state}"
        )
        if not self.is_bound:
            self.initial["state"] = json.dumps(SAMPLE_STATE)

    def clean(self):
        data = super().clean()
        if data.get("raw_event") is None:
            try:
                pasted = json.loads(data.get("state") or "")
            except ValueError as exc:
                raise forms.ValidationError(f"The call state is not valid JSON: {exc}") from None
            if not isinstance(pasted, dict):
                raise forms.ValidationError("The call state must be a JSON object.")
            data["pasted_state"] = pasted
        return data
