from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserCreationForm
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .models import User


class ConnectiveUserCreationForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


@admin.register(User)
class ConnectiveUserAdmin(UserAdmin):
    add_form = ConnectiveUserCreationForm
    readonly_fields = ["assigned_dialogs"]
    fieldsets = UserAdmin.fieldsets + (("Work", {"fields": ["assigned_dialogs"]}),)

    @admin.display(description="Dialogs assigned")
    def assigned_dialogs(self, user):
        dialogs = user.dialogs.order_by("-started_at", "-id")[:20]
        if not dialogs:
            return "None yet."
        rows = format_html_join(
            "",
            '<li><a href="{}">{} · {} · {}</a></li>',
            (
                (
                    reverse("admin:dialogs_dialog_change", args=[d.pk]),
                    d.started_at.strftime("%Y-%m-%d %H:%M") if d.started_at else "",
                    d.customer_number or d.call_id,
                    d.status,
                )
                for d in dialogs
            ),
        )
        everything = reverse("admin:dialogs_dialog_changelist") + f"?operator__id__exact={user.pk}"
        return format_html(
            '<ul id="assigned-dialogs">{}</ul><a href="{}">All {} dialogs</a>', rows, everything, user.dialogs.count()
        )

    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2")}),)
