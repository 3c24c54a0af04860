"""Events merged before body tokens were masked kept the token in their payload: mask it there too, and
give each event the fingerprint its masked payload has now (a provider's retry must still match it)."""

import hashlib
import json

from django.db import IntegrityError, migrations, transaction


def fingerprint_of(payload):
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def mask_stored_body_tokens(apps, schema_editor):
    from channels_app.mapping import MISSING, replaced_at_path, resolve_path
    from connective.lib.encryption import masked

    TelephonyChannel = apps.get_model("channels_app", "TelephonyChannel")
    CallEvent = apps.get_model("dialogs", "CallEvent")
    for channel in TelephonyChannel.objects.all().iterator():
        authentication = (channel.advanced_config or {}).get("authentication") or {}
        if authentication.get("scheme") != "body_token":
            continue
        path = authentication.get("path", "token")
        for event in CallEvent.objects.filter(channel_id=channel.pk).iterator():
            value = resolve_path(event.payload, path)
            if value is MISSING or str(value).startswith("…"):
                continue
            payload = replaced_at_path(event.payload, path, masked(str(value)))
            try:
                with transaction.atomic():
                    CallEvent.objects.filter(pk=event.pk).update(payload=payload, fingerprint=fingerprint_of(payload))
            except IntegrityError:  # the same event stored twice under two tokens (a rotation): keep its fingerprint
                CallEvent.objects.filter(pk=event.pk).update(payload=payload)


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0007_signature_secrets"),
        ("dialogs", "0005_transcription_lease"),
    ]

    operations = [migrations.RunPython(mask_stored_body_tokens, migrations.RunPython.noop)]
