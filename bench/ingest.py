"""Ingest benchmark: the production stack on this machine, driven by wrk with a realistic provider mix.

    .venv/bin/python bench/ingest.py [--seconds 15] [--connections 32] [--web-workers 4] [--event-workers 2]

Starts gunicorn on 127.0.0.1 against PostgreSQL (BENCH_DATABASE_URL, default the local server's database
connective_bench, created if missing), and drives, in this order and with the same wrk settings:
a bare Django view, a view that only inserts the raw body, and the webhook endpoint with the event
workers running (Setera three-event calls, Phonon single events, form-urlencoded events, 5% duplicates,
some out of order); then the webhook once more at half its peak rate for the ack latency. It prints
acknowledged events/s, ack latency p50/p99, the ratios to both references, end-to-end calls/s, the lag
p95 from the last event of a call to its final dialog, and whether every call became exactly one dialog.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/connective_bench"
PORT = 8917


def main():
    options = parse_arguments()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "bench.settings",
           "SECRET_KEY": "bench-only", "DEBUG": "false", "PYTHONPATH": str(ROOT), "CONN_MAX_AGE": "600",
           "CHANNEL_MAX_DELIVERIES_PER_SECOND": "0", "WEBHOOK_AUTH_FAILURES_PER_MINUTE": "1000000"}
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    create_database(database_url)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    paths = reset_data()
    print(f"PostgreSQL {database_url}; gunicorn {options.web_workers} workers; {options.event_workers} event workers; "
          f"wrk {options.threads} threads, {options.connections} connections, {options.seconds} s per run\n")

    server = start([shutil.which("gunicorn") or f"{Path(PYTHON).parent}/gunicorn", "connective.wsgi:application",
                    "--bind", f"127.0.0.1:{PORT}", "--workers", str(options.web_workers), "--worker-class", "gthread",
                    "--threads", "2", "--backlog", "2048", "--log-level", "warning"], env)
    try:
        wait_for_server()
        bare = wrk(options, {"MODE": "fixed", "FIXED_PATH": "/bench/bare/"})
        naive = wrk(options, {"MODE": "fixed", "FIXED_PATH": "/bench/insert/"})
        alone = wrk(options, {"MODE": "mix", "RUN": "alone", **paths})
        workers = [start([PYTHON, "manage.py", "process_events", "--poll", "0.05"], env) for _ in range(options.event_workers)]
        try:
            started = time.time()
            ours = wrk(options, {"MODE": "mix", "RUN": "busy", **paths})
            ingest_end = time.time()
            drained = wait_for_drain(timeout=300)
            half_rate = ours["rate"] / 2
            delay_ms = int(options.connections / half_rate * 1000) if half_rate else 0
            calm = wrk(options, {"MODE": "mix", "RUN": "calm", **paths, "DELAY_MS": str(delay_ms)}, seconds=max(5, options.seconds // 2))
            wait_for_drain(timeout=300)
        finally:
            for process in workers:
                stop(process)
    finally:
        stop(server)
    report(bare, naive, alone, ours, calm, started, ingest_end, drained, options)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--event-workers", type=int, default=2)
    return parser.parse_args()


def create_database(url):
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def reset_data():
    from django.db import connection

    from channels_app.models import Bot, TelephonyChannel

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, body bytea, received_at timestamptz)")
        cursor.execute("TRUNCATE bench_raw, dialogs_feedmessage, dialogs_callevent, actions_enrichmentrun, dialogs_dialog, "
                       "channels_app_rawevent, channels_app_telephonychannel, channels_app_bot_members, channels_app_bot CASCADE")
    bot = Bot.objects.create(name="Benchmark")
    setera = TelephonyChannel.from_preset(bot, "Setera", "setera")
    phonon = TelephonyChannel.from_preset(bot, "Phonon", "phonon")
    form = TelephonyChannel.from_preset(bot, "Form", "generic", data_format="form")

    def path(channel):
        return f"/webhooks/telephony/{channel.webhook_id}/?token={channel.token}"

    return {"SETERA_PATH": path(setera), "PHONON_PATH": path(phonon), "FORM_PATH": path(form)}


def start(command, env):
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def wait_for_server():
    import requests

    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{PORT}/health/", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    sys.exit("gunicorn did not start")


def wrk(options, env, seconds=None):
    command = ["wrk", f"-t{options.threads}", f"-c{options.connections}", f"-d{seconds or options.seconds}s",
               "--latency", "-s", str(ROOT / "bench" / "ingest.lua"), f"http://127.0.0.1:{PORT}"]
    output = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (.*)", output)
    result = {key: float(value) for key, value in (pair.split("=") for pair in match.group(1).split())}
    result["rate"] = result["requests"] / result["seconds"]
    return result


def wait_for_drain(timeout):
    from channels_app.models import RawEvent

    deadline = time.time() + timeout
    while time.time() < deadline:
        if not RawEvent.objects.filter(available_at__isnull=False).exists():
            return time.time()
        time.sleep(0.2)
    return None


def report(bare, naive, alone, ours, calm, started, ingest_end, drained, options):
    from django.db.models import Count

    from channels_app.models import RawEvent
    from dialogs.models import Dialog

    events = RawEvent.objects.count()
    calls_sent = int(alone["calls"] + ours["calls"] + calm["calls"])
    dialogs = Dialog.objects.count()
    complete = Dialog.objects.filter(completed_at__isnull=False)
    per_call = Dialog.objects.values("channel_id", "call_id").annotate(n=Count("id")).filter(n__gt=1).count()
    lags = sorted((updated - last).total_seconds() for updated, last in complete.values_list("updated_at", "last_event_at"))
    during = complete.filter(completed_at__lte=_aware(ingest_end), completed_at__gte=_aware(started)).count()
    states = dict(RawEvent.objects.values_list("state").annotate(n=Count("id")))
    print(f"{'view':34} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, run in (("bare Django view", bare), ("one-INSERT view", naive), ("webhook, workers stopped", alone),
                      ("webhook, workers processing", ours), ("webhook at half its peak rate", calm)):
        print(f"{name:34} {run['rate']:9.0f} {run['p50_ms']:8.2f} {run['p99_ms']:8.2f} {run['errors']:7.0f}")
    print()
    print(f"webhook / bare view:        {alone['rate'] / bare['rate']:.0%} with the workers stopped, "
          f"{ours['rate'] / bare['rate']:.0%} with them processing")
    print(f"webhook / one-INSERT view:  {alone['rate'] / naive['rate']:.0%} with the workers stopped, "
          f"{ours['rate'] / naive['rate']:.0%} with them processing  (target at least 90%)")
    print(f"ack p99 at half peak rate:  {calm['p99_ms']:.1f} ms  (target under 25 ms)")
    print(f"end to end while ingesting: {during / (ingest_end - started):.0f} calls/s completed  (target at least 150)")
    if drained:
        print(f"backlog drained:            {drained - ingest_end:.1f} s after the load stopped")
    else:
        print("backlog drained:            NOT within 300 s")
    if lags:
        print(f"lag p95, last event to final dialog: {lags[int(len(lags) * 0.95) - 1]:.2f} s  (target under 2 s)")
    print(f"events stored: {events}  by state: {states}")
    # A call whose first event was in flight when wrk stopped is counted but may not have been sent:
    # at most one per connection.
    verdict = "yes" if 0 <= calls_sent - dialogs <= options.connections and per_call == 0 else "NO"
    print(f"calls sent: {calls_sent}; dialogs: {dialogs}; calls with more than one dialog: {per_call}; "
          f"every call exactly one dialog: {verdict}")
    print(f"complete: {complete.count()} (a call cut off by the end of a run, with only its first events sent, "
          "waits for the sweep)")


def _aware(timestamp):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)


if __name__ == "__main__":
    main()
