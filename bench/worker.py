"""Event-worker benchmark: one worker process alone, draining a stored backlog of the realistic mix.

    bin/bench worker [--calls 3000] [--streams 32] [--profile]

Stores the deliveries of `--calls` calls in PostgreSQL (BENCH_DATABASE_URL, default the local database
connective_bench) as the webhook would (60% Setera calls of three events, 20% of them out of order; 20%
Phonon single events; 20% form-urlencoded events; 5% duplicates), interleaved as `--streams` concurrent
senders would deliver them, then times one worker draining them. It prints events/s, the SQL statements
per event (and the most frequent ones), and checks that every call became exactly one complete dialog. `--profile` adds the top of a
cProfile of the drain.
"""

import argparse
import cProfile
import io
import os
import pstats
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/connective_bench"


def main():
    options = parse_arguments()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SECRET_KEY": "bench-only",
            "DEBUG": "false",
        }
    )
    os.environ.pop("REDIS_URL", None)
    from bench.ingest import create_database

    if database_url.startswith("postgres"):
        create_database(database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from bench.ingest import reset_data

    reset_data()
    deliveries = backlog(options.calls, options.streams)
    store(deliveries)
    print(f"{len(deliveries)} deliveries of {options.calls} calls stored; one worker drains them\n")
    processed, seconds, statements, profile = drain(options.profile)
    print(f"events/s:             {processed / seconds:.0f}  ({processed} in {seconds:.2f} s)")
    print(f"statements per event: {statements.total() / processed:.2f}")
    for statement, count in statements.most_common(8):
        print(f"  {count / processed:5.2f}  {statement}")
    correct = check(options.calls)
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(35)
        print(out.getvalue())
    return 0 if correct else 1


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--profile", action="store_true")
    return parser.parse_args()


def backlog(calls, streams):
    """(channel kind, content type, body) in the order `streams` concurrent senders would deliver them."""
    rng = random.Random(42)
    queues = [[] for _ in range(streams)]
    for number in range(calls):
        queues[number % streams].extend(call_deliveries(rng, f"bench-{number}", number))
    ordered, last = [], None
    while any(queues):
        for queue in queues:
            if queue:
                if last and rng.random() < 0.05:
                    ordered.append(last)  # a provider's retry of what it just sent
                last = queue.pop(0)
                ordered.append(last)
    return ordered


def call_deliveries(rng, call_id, number):
    pick = rng.random()
    if pick < 0.6:
        events = [
            setera(call_id, seq, state, number) for seq, state in ((1, "EARLY"), (2, "CONFIRMED"), (3, "TERMINATED"))
        ]
        if rng.random() < 0.2:
            events = [events[0], events[2], events[1]]
        return [("setera", "application/json", body) for body in events]
    if pick < 0.8:
        return [("phonon", "application/json", phonon(call_id, number))]
    return [("form", "application/x-www-form-urlencoded", form(call_id, number))]


def setera(call_id, seq, state, number):
    return (
        f'{{"seq_num": {seq}, "call_id": "{call_id}", "timestamp": "2026-01-01T10:00:{seq * 3:02d}.000+00:00", '
        f'"state": "{state}", "direction": "INCOMING", "local_user_id": "agent{number % 8}@example.com", '
        f'"local_number": "+358942721{number % 1000:03d}", "device_type": "SOFT", '
        f'"remote_number": "+3584094{number % 100000:05d}"}}'
    ).encode()


def phonon(call_id, number):
    return (
        f'{{"callDetails": [{{"calleeNumber": "98765{number % 100000:05d}", "connectTime": "2026-01-01 10:00:05", '
        f'"didNumber": "8045671234", "duration": "{number % 90}", "endTime": "2026-01-01 10:01:00", '
        f'"hangupCause": "16", "incoming": true, "startTime": "2026-01-01 10:00:00"}}], '
        f'"keys": [{{"name": "$flow.key.lang", "value": "en"}}], "phonon-uuid": "{call_id}", '
        f'"recordingUrls": [{{"recordedFileName": "r.mp3", "recordedFilePublicPath": "https://rec.example/{call_id}.mp3"}}]}}'
    ).encode()


def form(call_id, number):
    return (
        f"call_id={call_id}&caller=050{number % 10000000:07d}&callee=%2B380441234567&status=PROPER&direction=in"
        f"&call_duration={number % 300}"
    ).encode()


def store(deliveries):
    from channels_app.models import RawEvent, TelephonyChannel

    channels = {channel.name.lower(): channel for channel in TelephonyChannel.objects.all()}
    for kind, content_type, body in deliveries:
        RawEvent.receive(channels[kind], body, content_type)


def drain(profile):
    from django.db import connection

    from channels_app import worker

    statements = Counter()

    def count(execute, sql, params, many, context):
        statements[re.sub(r"\s+", " ", sql)[:90]] += 1
        return execute(sql, params, many, context)

    profiler = cProfile.Profile() if profile else None
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        processed = worker.drain()
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    return processed, seconds, statements, profiler


def check(calls):
    from django.db.models import Count

    from dialogs.models import Dialog

    dialogs = Dialog.objects.count()
    doubled = Dialog.objects.values("channel_id", "call_id").annotate(n=Count("id")).filter(n__gt=1).count()
    complete = Dialog.objects.filter(completed_at__isnull=False).count()
    verdict = "yes" if dialogs == calls == complete and not doubled else "NO"
    print(
        f"calls: {calls}; dialogs: {dialogs}; complete: {complete}; every call exactly one complete dialog: {verdict}"
    )
    return verdict == "yes"


if __name__ == "__main__":
    sys.exit(main())
