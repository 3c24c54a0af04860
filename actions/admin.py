import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from channels_app.mapping import MappingError
from dialogs.models import Dialog

from .forms import ActionForm, ActionTestForm
from .models import Action, EnrichmentRun


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    form = ActionForm
    list_display = ["name", "kind", "description", "test_link"]
    list_filter = ["kind"]
    search_fields = ["name", "description"]
    readonly_fields = ["secret_names"]
    fields = ["name", "description", "kind", "parameters", "secret_names", "new_secrets"]

    @admin.display(description="Secrets kept")
    def secret_names(self, action):
        names = sorted(action.secrets or {})
        return ", ".join(f"{name} = ••••••" for name in names) or "none"

    @admin.display(description="Action test")
    def test_link(self, action):
        return format_html('<a href="{}">Test</a>', reverse("admin:actions_action_test", args=[action.pk]))

    def get_urls(self):
        test = path("<int:pk>/test/", self.admin_site.admin_view(self.test_view), name="actions_action_test")
        return [test, *super().get_urls()]

    def test_view(self, request, pk):
        """Action test: run the action on sample call data; nothing is saved."""
        action = get_object_or_404(Action, pk=pk)
        if not self.has_change_permission(request, action):
            raise PermissionDenied
        form = ActionTestForm(request.POST or None)
        result = state = None
        if request.method == "POST" and form.is_valid():
            try:
                state = test_state(form.cleaned_data)
            except MappingError as exc:
                form.add_error("raw_event", f"The event cannot be mapped by its channel: {exc}")
            else:
                result = action.run(state)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Action test: {action.name}",
            "action": action,
            "opts": self.model._meta,
            "form": form,
            "result": result,
            "state_json": json.dumps(state, indent=2, ensure_ascii=False) if state else "",
            "request_json": json.dumps(result.request, indent=2, ensure_ascii=False)
            if result and result.request
            else "",
            "outputs_json": json.dumps(result.outputs, indent=2, ensure_ascii=False) if result else "",
        }
        return TemplateResponse(request, "admin/actions/action/test.html", context)


def test_state(data):
    raw_event = data.get("raw_event")
    if raw_event is not None:
        dialog, payloads = Dialog.preview(raw_event)
        return dialog.call_state(payloads=payloads)
    pasted = data["pasted_state"]
    if "telephony" not in pasted:
        pasted = {"telephony": pasted}
    return {"payloads": [], "channel": {}, "bot": {}, **pasted}


class EnrichmentRunInline(admin.TabularInline):
    model = EnrichmentRun
    extra = 0
    can_delete = False
    fields = ["started_at", "action_name", "outcome", "duration", "error", "outputs", "request", "response"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False
