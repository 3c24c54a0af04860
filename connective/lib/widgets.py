import json

from django import forms


class PrettyJSONWidget(forms.Textarea):
    """JSON in a monospace editor, pretty-printed."""

    def __init__(self, rows=14):
        super().__init__(
            attrs={
                "rows": rows,
                "class": "vLargeTextField json-editor",
                "spellcheck": "false",
                "style": "font-family: ui-monospace, Menlo, Consolas, monospace; width: 100%; max-width: 60em; tab-size: 2",
            }
        )

    def format_value(self, value):
        try:
            return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except (TypeError, ValueError):
            return value
