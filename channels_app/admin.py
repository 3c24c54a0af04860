from django.contrib import admin

from .models import Bot, RawEvent, TelephonyChannel


class TelephonyChannelInline(admin.TabularInline):
    model = TelephonyChannel
    extra = 0
    fields = ["name", "is_active", "data_format"]
    show_change_link = True


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    inlines = [TelephonyChannelInline]


@admin.register(TelephonyChannel)
class TelephonyChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "bot", "is_active", "data_format"]
    list_filter = ["bot", "is_active"]
    readonly_fields = ["webhook_url", "token"]


@admin.register(RawEvent)
class RawEventAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "received_at", "state", "attempts", "error"]
    list_filter = ["state", "channel"]
    readonly_fields = ["channel", "received_at", "content_type", "headers", "remote_addr", "state", "attempts",
                       "error", "processed_at"]
    exclude = ["body", "available_at"]
