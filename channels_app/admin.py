from django import forms
from django.contrib import admin

from .models import Bot, RawEvent, SqsQueue, TelephonyChannel


class TelephonyChannelInline(admin.TabularInline):
    model = TelephonyChannel
    extra = 0
    fields = ["name", "is_active", "data_format"]
    show_change_link = True


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    inlines = [TelephonyChannelInline]


class SqsQueueForm(forms.ModelForm):
    queue_url = forms.URLField(max_length=500, assume_scheme="https")
    endpoint_url = forms.URLField(required=False, assume_scheme="https", help_text=SqsQueue._meta.get_field("endpoint_url").help_text)
    secret_access_key = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
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


@admin.register(TelephonyChannel)
class TelephonyChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "bot", "is_active", "transport", "data_format"]
    list_filter = ["bot", "is_active", "transport"]
    readonly_fields = ["webhook_url", "token"]
    inlines = [SqsQueueInline]


@admin.register(RawEvent)
class RawEventAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "received_at", "state", "attempts", "error"]
    list_filter = ["state", "channel"]
    readonly_fields = ["channel", "received_at", "content_type", "headers", "remote_addr", "state", "attempts",
                       "error", "processed_at"]
    exclude = ["body", "available_at"]
