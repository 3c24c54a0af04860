from django.core.management.base import BaseCommand

from channels_app import worker
from connective.lib.processes import stop_on_signals


class Command(BaseCommand):
    help = "Process stored webhook events into dialogs (runs until stopped; --once drains the queue and exits)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Process what is queued now, then exit.")
        parser.add_argument(
            "--poll", type=float, default=0.2, help="Seconds to wait when the queue holds less than a batch."
        )

    def handle(self, *args, once=False, poll=0.2, **options):
        if once:
            self.stdout.write(f"processed {worker.drain()} events")
            return
        stop = stop_on_signals()
        self.stdout.write("event worker started")
        worker.run(stop=stop, poll_interval=poll)
        self.stdout.write("event worker stopped")
