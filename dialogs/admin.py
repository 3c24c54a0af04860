from django.contrib import admin
from django.db import models

from actions.admin import EnrichmentRunInline
from connective.lib.admin_inputs import SaneQueryMixin

from .models import Dialog, FeedMessage, Topic


@admin.register(Topic)
class TopicAdmin(SaneQueryMixin, admin.ModelAdmin):
    list_display = ["alias", "name"]
    search_fields = ["alias", "name"]


class FeedMessageInline(admin.TabularInline):
    model = FeedMessage
    extra = 0
    fields = ["created_at", "text"]
    readonly_fields = fields
    can_delete = False


@admin.register(Dialog)
class DialogAdmin(SaneQueryMixin, admin.ModelAdmin):
    list_display = [
        "call_id",
        "channel",
        "direction",
        "status",
        "caller_number",
        "callee_number",
        "duration",
        "started_at",
        "operator",
        "is_test",
        "completed_at",
    ]
    list_filter = ["is_test", "channel", "direction", "status", "enrichment_state", "operator"]
    search_fields = ["call_id", "caller_number", "callee_number"]
    raw_id_fields = ["operator"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [FeedMessageInline, EnrichmentRunInline]
