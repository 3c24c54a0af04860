from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from channels_app.models import Bot, TelephonyChannel
from dialogs.models import Topic

DEMO_CHANNELS = [("Main telephony", "generic"), ("Setera OneCloud", "setera"), ("Phonon Central", "phonon")]


class Command(BaseCommand):
    help = "Create the demo administrator, bot, channels and topics (idempotent) and print the webhook URLs."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="admin", help="Password of the demo administrator 'admin'.")

    def handle(self, *args, password, **options):
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", password)
            self.stdout.write(f"created administrator 'admin' with password '{password}'")
        bot, _ = Bot.objects.get_or_create(name="Demo bot")
        for name, preset in DEMO_CHANNELS:
            if not bot.channels.filter(name=name).exists():
                TelephonyChannel.from_preset(bot, name, preset)
        for alias, name in [("sales", "Sales"), ("support", "Support")]:
            Topic.objects.get_or_create(alias=alias, defaults={"name": name})
        self.stdout.write(f"admin: {settings.PUBLIC_BASE_URL}/admin/")
        for channel in bot.channels.all():
            self.stdout.write(
                f"channel '{channel.name}': {channel.webhook_url} with header X-Webhook-Token: {channel.token}"
            )
