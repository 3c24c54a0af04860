"""The caller card: each dialog's customer key (its customer's number, E.164 when valid, else its digits),
filled in for the dialogs that exist, and the caller lookup's state."""

from django.conf import settings
from django.db import migrations, models


def fill_customer_keys(apps, schema_editor):
    """Valid numbers are copied in two UPDATEs; numbers kept as sent (a few) become their digits one by one."""
    Dialog = apps.get_model("dialogs", "Dialog")
    outgoing = models.Q(direction="out")
    Dialog.objects.filter(~outgoing, caller_number_valid=True).update(customer_key=models.F("caller_number"))
    Dialog.objects.filter(outgoing, callee_number_valid=True).update(customer_key=models.F("callee_number"))
    kept_as_sent = Dialog.objects.filter(
        (~outgoing & models.Q(caller_number_valid=False)) | (outgoing & models.Q(callee_number_valid=False))
    )
    for dialog in kept_as_sent.only("direction", "caller_number", "callee_number").iterator():
        number = dialog.callee_number if dialog.direction == "out" else dialog.caller_number
        digits = "".join(character for character in number if character.isdigit())[:64]
        Dialog.objects.filter(pk=dialog.pk).update(customer_key=digits)


class Migration(migrations.Migration):
    dependencies = [
        ("dialogs", "0006_enrichment_lease"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="dialog",
            name="caller_lookup",
            field=models.JSONField(
                blank=True,
                default=dict,
                editable=False,
                help_text="The caller lookup action's run: state (pending, done, failed), outputs, error, at.",
            ),
        ),
        migrations.AddField(
            model_name="dialog",
            name="customer_key",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="The customer's number as the caller card matches it: E.164 when valid, else its digits.",
                max_length=64,
            ),
        ),
        migrations.RunPython(fill_customer_keys, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="dialog",
            index=models.Index(fields=["customer_key", "-started_at", "-id"], name="dialog_customer_history"),
        ),
    ]
