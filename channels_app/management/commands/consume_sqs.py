from django.core.management.base import BaseCommand

from channels_app import sqs
from connective.lib.processes import stop_on_signals


class Command(BaseCommand):
    help = "Pull the events of SQS channels into the pipeline (runs until stopped; --once polls each queue once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Poll each active SQS queue once, then exit.")

    def handle(self, *args, once=False, **options):
        if once:
            total = sum(sqs.poll(queue, wait_seconds=1) for queue in sqs.active_queues())
            self.stdout.write(f"stored {total} messages")
            return
        stop = stop_on_signals()
        self.stdout.write("SQS consumer started")
        sqs.run(stop=stop)
        self.stdout.write("SQS consumer stopped")
