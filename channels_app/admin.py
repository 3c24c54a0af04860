import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from connective.lib.admin_inputs import SaneQueryMixin
from connective.lib.widgets import PrettyJSONWidget

from . import authentication, providers
from .countries import country_code_choices
from .inspection import (
    masked,
    masked_body_text,
    masked_payloads,
    preview,
    suggest_mapping,
)
from .models import Bot, RawEvent, SqsQueue, TelephonyChannel
from .parsing import BodyError
from .synthetic_call import run_test

# What staff who may only view a channel see instead of the fields that carry its webhook token.
MASKED_FOR_VIEWERS = {"webhook": "masked_webhook", "token_display": "masked_token"}


class TelephonyChannelInline(admin.TabularInline):
    model = TelephonyChannel
    extra = 0
    fields = ["name", "is_active", "transport", "data_format"]
    show_change_link = True
    verbose_name_plural = "Telephony"


@admin.register(Bot)
class BotAdmin(SaneQueryMixin, admin.ModelAdmin):
    list_display = ["name", "channel_count", "created_at"]
    filter_horizontal = ["members"]
    inlines = [TelephonyChannelInline]
    readonly_fields = ["create_channel"]
    fields = ["name", "members", "create_channel"]

    @admin.display(description="Telephony")
    def channel_count(self, bot):
        return bot.channels.count()

    @admin.display(description="")
    def create_channel(self, bot):
        if not bot.pk:
            return "Save the bot first, then create its channels."
        url = reverse("admin:channels_app_telephonychannel_add") + f"?bot={bot.pk}"
        return format_html('<a class="button" href="{}" id="create-channel">Create channel</a>', url)


class SqsQueueForm(forms.ModelForm):
    queue_url = forms.URLField(max_length=500, assume_scheme="https")
    endpoint_url = forms.URLField(
        required=False, assume_scheme="https", help_text=SqsQueue._meta.get_field("endpoint_url").help_text
    )
    secret_access_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: stored encrypted, never shown again. Leave empty to keep the current one.",
    )

    class Meta:
        model = SqsQueue
        fields = ["queue_url", "region", "access_key_id", "secret_access_key", "endpoint_url", "require_signature"]

    def save(self, commit=True):
        queue = super().save(commit=False)
        if self.cleaned_data.get("secret_access_key"):
            queue.set_secret_access_key(self.cleaned_data["secret_access_key"])
        if commit:
            queue.save()
        return queue


class SqsQueueInline(admin.StackedInline):
    model = SqsQueue
    form = SqsQueueForm
    extra = 0
    max_num = 1
    verbose_name = "SQS transport"
    readonly_fields = ["transport_status"]

    @admin.display(description="Status")
    def transport_status(self, queue):
        return queue.status_text() if queue.pk else "Save the channel to start polling."


class TelephonyChannelForm(forms.ModelForm):
    preset = forms.ChoiceField(
        required=False,
        help_text="Fills Advanced Config, the data format and the country with a working setup for the provider.",
    )
    default_country_code = forms.ChoiceField(required=False, label="Default country code")
    signature_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Signature secret",
        help_text="The provider's signing secret, webhook token or public key, for every authentication scheme but "
        "token and source_ip. Write-only, stored encrypted. A new secret replaces the current one, which stays valid "
        "until you forget it, so the provider can switch without lost calls.",
    )
    forget_previous_secret = forms.BooleanField(required=False, label="Forget the previous signature secret")
    recording_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Recording host secret",
        help_text="The password or token of recordings.auth in Advanced Config. Write-only: stored encrypted, never "
        "shown again; empty keeps the current one.",
    )

    class Meta:
        model = TelephonyChannel
        fields = "__all__"
        widgets = {"advanced_config": PrettyJSONWidget(rows=22)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [("", "— keep the current configuration —")] + [
            (slug, preset["name"]) for slug, preset in providers.all_presets().items()
        ]
        self.fields["default_country_code"].choices = country_code_choices()
        self.fields["default_country_code"].help_text = TelephonyChannel._meta.get_field(
            "default_country_code"
        ).help_text
        if "advanced_config" in self.fields:  # not for staff who may only view the channel
            self.fields["advanced_config"].help_text = (
                "Field, status and direction mapping, recordings, transcription, ignored events and authentication. "
                f"authentication.scheme is one of: {', '.join(sorted(authentication.SCHEMES))}."
            )
        if self.instance.pk:
            self.fields["signature_secret"].help_text += " " + secrets_in_force(self.instance)


def secrets_in_force(channel):
    """Which secrets are set, told by their last characters only."""
    hints = [f"…{secret[-4:]}" if len(secret) >= 16 else "set" for secret in channel.signature_secrets()]
    if not hints:
        return "Now: none set."
    return f"Now: current {hints[0]}" + (f", previous {hints[1]} (still valid)." if len(hints) > 1 else ".")


@admin.register(TelephonyChannel)
class TelephonyChannelAdmin(SaneQueryMixin, admin.ModelAdmin):
    form = TelephonyChannelForm
    list_display = ["name", "bot", "is_active", "transport", "data_format", "last_event"]
    list_filter = ["bot", "is_active", "transport"]
    search_fields = ["name", "bot__name"]
    readonly_fields = ["status_panel", "webhook", "token_display", "masked_webhook", "masked_token", "default_operator"]
    inlines = [SqsQueueInline]
    fieldsets = [
        (None, {"fields": ["bot", "name", "is_active", "status_panel"]}),
        ("Webhook", {"fields": ["webhook", "token_display", "transport", "data_format"]}),
        (
            "Advanced Config",
            {"fields": ["preset", "advanced_config", "signature_secret", "forget_previous_secret", "recording_secret"]},
        ),
        ("Number normalization", {"fields": ["default_country_code"]}),
        (
            "Enrichment, caller lookup and transcription",
            {
                "fields": [
                    "enrich_action",
                    "enrich_error_action",
                    "caller_lookup_action",
                    "caller_lookup_deadline",
                    "default_operator",
                    "auto_transcription",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ["default_operator"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            left_out = {"status_panel", "webhook", "token_display"}
            shown = {}
        elif self.has_change_permission(request, obj):
            left_out, shown = set(), {}
        else:
            left_out, shown = set(), MASKED_FOR_VIEWERS
        return [
            (title, {**options, "fields": [shown.get(f, f) for f in options["fields"] if f not in left_out]})
            for title, options in self.fieldsets
        ]

    def get_queryset(self, request):
        last_received = (
            RawEvent.objects.filter(channel=OuterRef("pk")).order_by("-received_at", "-id").values("received_at")[:1]
        )
        return super().get_queryset(request).annotate(last_event_at=Subquery(last_received))

    @admin.display(description="Last event", ordering="last_event_at")
    def last_event(self, channel):
        return channel.last_event_at or "—"

    @admin.display(description="Status")
    def status_panel(self, channel):
        activity = channel.activity()
        error = activity["last_error"]
        log = reverse("admin:channels_app_rawevent_changelist") + f"?channel__id__exact={channel.pk}"
        if problem := authentication.misconfiguration(channel):
            return format_html(
                '<div id="channel-status" class="errornote">Every delivery is refused: {}.</div>', problem
            )
        return format_html(
            '<div id="channel-status"><strong>{}</strong> · last event {} · last 24 h: {} events, {} dialogs, {} failures'
            '{}<br><a href="{}">Event log</a></div>',
            "Active" if channel.is_active else "Inactive",
            activity["last_event_at"].strftime("%Y-%m-%d %H:%M:%S") if activity["last_event_at"] else "never",
            activity["events"],
            activity["dialogs"],
            activity["failures"],
            format_html("<br>Last error ({}): {}", error.received_at.strftime("%Y-%m-%d %H:%M"), error.error)
            if error
            else "",
            log,
        )

    @admin.display(description="Webhook URL")
    def webhook(self, channel):
        return webhook_instructions(channel, channel.token)

    @admin.display(description="Webhook URL")
    def masked_webhook(self, channel):
        return webhook_instructions(channel, masked(channel.token))

    @admin.display(description="Webhook token")
    def token_display(self, channel):
        url = reverse("admin:channels_app_telephonychannel_regenerate_token", args=[channel.pk])
        return format_html(
            '{} <a class="button" href="{}" id="regenerate-token">Regenerate token</a>',
            copyable("webhook-token", channel.token),
            url,
        )

    @admin.display(description="Webhook token")
    def masked_token(self, channel):
        return format_html(
            '<code id="webhook-token">{}</code><div class="help">Only staff who may change the channel '
            "see its token.</div>",
            masked(channel.token),
        )

    @admin.display(description="Default operator for 'assign administrator'")
    def default_operator(self, channel):
        user_id = settings.TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID
        user = get_user_model().objects.filter(pk=user_id).first()
        who = f"{user.get_username()} ({user.email})" if user else "no such user: set the instance setting"
        return f"TELEPHONY_AUTOTRANSCRIBE_DEFAULT_OPERATOR_ID = {user_id}: {who}"

    def save_model(self, request, channel, form, change):
        if form.cleaned_data.get("signature_secret"):
            channel.set_signature_secret(form.cleaned_data["signature_secret"])
        if form.cleaned_data.get("forget_previous_secret"):
            channel.forget_previous_secret()
        if form.cleaned_data.get("recording_secret"):
            channel.set_recording_secret(form.cleaned_data["recording_secret"])
        if slug := form.cleaned_data.get("preset"):
            self.apply_preset(request, channel, form, slug)
        super().save_model(request, channel, form, change)

    def apply_preset(self, request, channel, form, slug):
        """Fill the channel from the chosen preset, never over an edit. The page's script fills the form from
        the preset as soon as it is chosen, so a posted Advanced Config that differs both from what the form
        showed (the admin posts that back as initial-advanced_config: the field's default is callable) and from
        the preset's is the administrator's edit, and it stands."""
        preset = providers.load(slug)
        edited = set(form.changed_data)
        if "advanced_config" in edited and form.cleaned_data["advanced_config"] != preset["advanced_config"]:
            messages.warning(
                request,
                f"Advanced Config was saved as you edited it: the preset {preset['name']} was "
                "not applied over your edit.",
            )
            return
        channel.advanced_config = preset["advanced_config"]
        if "data_format" not in edited:
            channel.data_format = preset["data_format"]
        channel.default_country_code = form.cleaned_data.get("default_country_code") or preset["default_country_code"]

    def get_urls(self):
        own = [
            path(
                "<int:pk>/regenerate-token/",
                self.admin_site.admin_view(self.regenerate_token_view),
                name="channels_app_telephonychannel_regenerate_token",
            ),
            path(
                "<int:pk>/test/", self.admin_site.admin_view(self.test_view), name="channels_app_telephonychannel_test"
            ),
        ]
        return own + super().get_urls()

    def regenerate_token_view(self, request, pk):
        channel = get_object_or_404(TelephonyChannel, pk=pk)
        if not self.has_change_permission(request, channel):
            raise PermissionDenied
        if request.method == "POST":
            channel.regenerate_token()
            messages.success(request, "A new token was generated: give the provider the new webhook URL or token.")
            return redirect("admin:channels_app_telephonychannel_change", channel.pk)
        return TemplateResponse(
            request,
            "admin/channels_app/telephonychannel/regenerate_token.html",
            {
                **self.admin_site.each_context(request),
                "channel": channel,
                "opts": self.model._meta,
                "title": f"Regenerate the token of {channel.name}?",
            },
        )

    def test_view(self, request, pk):
        """Seed 000, step 7: a synthetic call through the real endpoint, and what became of it."""
        channel = get_object_or_404(TelephonyChannel, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, channel):
            return redirect("admin:channels_app_telephonychannel_change", channel.pk)
        report = run_test(channel, operator_email=request.user.email)
        return TemplateResponse(
            request,
            "admin/channels_app/telephonychannel/test_report.html",
            {
                **self.admin_site.each_context(request),
                "channel": channel,
                "report": report,
                "opts": self.model._meta,
                "payload": json.dumps(report.payload, indent=2, ensure_ascii=False),
                "title": f"Test of {channel.name}",
            },
        )

    def render_change_form(self, request, context, *args, **kwargs):
        context["presets_json"] = {
            slug: {
                "advanced_config": p["advanced_config"],
                "data_format": p["data_format"],
                "default_country_code": p["default_country_code"],
            }
            for slug, p in providers.all_presets().items()
        }
        return super().render_change_form(request, context, *args, **kwargs)


def webhook_instructions(channel, token):
    """The URL, the header that carries the token (recommended), and the URL with ?token= for providers that
    can be given nothing but a URL."""
    return format_html(
        '{}<br>{}<div class="help">Recommended: send the token in this header (or <code>Authorization: Bearer …</code>).'
        '</div>{}<div class="help">Only for providers that can be given nothing but a URL: a token in the URL lands in '
        "access logs (ours, proxies', the provider's).</div>",
        copyable("webhook-url", channel.webhook_url),
        copyable("webhook-header", f"X-Webhook-Token: {token}"),
        copyable("webhook-url-with-token", f"{channel.webhook_url}?token={token}"),
    )


def copyable(element_id, value):
    return format_html(
        '<code id="{}" style="user-select: all">{}</code> '
        '<button type="button" class="button copy" data-copy="{}" onclick="navigator.clipboard && '
        "navigator.clipboard.writeText(document.getElementById(this.dataset.copy).textContent); "
        "this.textContent='Copied'\">Copy</button>",
        element_id,
        value,
        element_id,
    )


@admin.register(RawEvent)
class RawEventAdmin(SaneQueryMixin, admin.ModelAdmin):
    list_display = ["id", "received_at", "channel", "size", "state", "short_error"]
    list_filter = ["state", "channel", "is_test"]
    list_select_related = ["channel"]
    actions = ["reprocess"]
    readonly_fields = [
        "channel",
        "received_at",
        "state",
        "attempts",
        "error",
        "processed_at",
        "content_type",
        "remote_addr",
        "is_test",
        "pretty_headers",
        "pretty_body",
        "preview_link",
    ]
    exclude = ["body", "available_at", "headers"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Size")
    def size(self, event):
        return f"{len(event.body)} B"

    @admin.display(description="Error")
    def short_error(self, event):
        return (event.error[:120] + "…") if len(event.error) > 120 else event.error

    @admin.display(description="Headers")
    def pretty_headers(self, event):
        return format_html("<pre>{}</pre>", json.dumps(event.headers, indent=2, ensure_ascii=False))

    @admin.display(description="Body")
    def pretty_body(self, event):
        return format_html(
            '<pre id="event-body" style="max-height:40em;overflow:auto">{}</pre>', masked_body_text(event)
        )

    @admin.display(description="Mapping")
    def preview_link(self, event):
        url = reverse("admin:channels_app_rawevent_preview", args=[event.pk])
        return format_html('<a class="button" href="{}" id="preview-mapping">Preview mapping</a>', url)

    @admin.action(description="Reprocess the selected events with the channel's current mapping")
    def reprocess(self, request, queryset):
        count = 0
        for event in queryset.exclude(state=RawEvent.State.PROCESSING):
            event.requeue()
            count += 1
        self.message_user(request, f"{count} events queued again; dialogs are updated, never doubled.")

    def get_urls(self):
        preview_url = path(
            "<int:pk>/preview/", self.admin_site.admin_view(self.preview_view), name="channels_app_rawevent_preview"
        )
        return [preview_url, *super().get_urls()]

    def preview_view(self, request, pk):
        """The channel's current Advanced Config applied to a stored event, beside the payload."""
        event = get_object_or_404(RawEvent.objects.select_related("channel"), pk=pk)
        channel_admin = self.admin_site.get_model_admin(TelephonyChannel)
        if not (self.has_view_permission(request, event) and channel_admin.has_view_permission(request, event.channel)):
            raise PermissionDenied
        try:
            payloads = masked_payloads(event)
        except BodyError as exc:
            payloads, body_error = [], str(exc)
        else:
            body_error = ""
        previews = []
        for payload in payloads[:20]:
            rows, mapped, error = preview(event.channel, payload)
            previews.append(
                {
                    "rows": rows,
                    "error": error,
                    "payload": json.dumps(payload, indent=2, ensure_ascii=False),
                    "suggestion": json.dumps(suggest_mapping(payload), indent=2),
                }
            )
        return TemplateResponse(
            request,
            "admin/channels_app/rawevent/preview.html",
            {
                **self.admin_site.each_context(request),
                "event": event,
                "previews": previews,
                "body_error": body_error,
                "opts": self.model._meta,
                "title": f"Preview mapping: event #{event.pk}",
            },
        )
