"""Ingest benchmark: the production stack on this machine, driven by wrk with a realistic provider mix.

    bin/bench ingest [--seconds 15] [--rounds 5] [--connections 32] [--web-workers 4] [--event-workers 2]
                     [--sustained-rate 450] [--worker-nice 10]

Starts gunicorn on 127.0.0.1 against PostgreSQL (BENCH_DATABASE_URL, default the local server's database
connective_bench, created if missing) and drives, with the same wrk settings: a bare Django view, a view
that only inserts the raw body, and the webhook with the event workers stopped (the acknowledgement
alone); then, with the event workers running, the webhook at a sustained rate (Setera three-event calls,
Phonon single events, form-urlencoded events, 5% duplicates, some out of order), at half its peak rate
(ack latency), and flat out. It prints acknowledged events/s, ack latency p50/p99, the ratios to both
references, end-to-end calls/s and the lag p95 (last event of a call to its final dialog) of the
sustained run, and whether every call whose every delivery was acknowledged (a 2xx seen by wrk) became
exactly one dialog: no tolerance.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/connective_bench"
PORT = 8917
# What wrk saw of the mix runs: every call it sent with its number of events, and the event ids of the
# deliveries answered 2xx (bench/ingest.lua's response() and done()).
LEDGER = {"calls": {}, "acknowledged_event_ids": set()}


def main():
    options = parse_arguments()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SECRET_KEY": "bench-only",
        "DEBUG": "false",
        "PYTHONPATH": str(ROOT),
        "CONN_MAX_AGE": "600",
        "CHANNEL_MAX_DELIVERIES_PER_SECOND": "0",
        "WEBHOOK_AUTH_FAILURES_PER_MINUTE": "1000000",
    }
    env.pop("REDIS_URL", None)
    os.environ.update(env)
    create_database(database_url)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    paths = reset_data()
    print(
        f"PostgreSQL {database_url}; gunicorn {options.web_workers} workers; {options.event_workers} event workers; "
        f"wrk {options.threads} threads, {options.connections} connections, {options.seconds} s per run\n"
    )

    server = start(
        [
            shutil.which("gunicorn") or f"{Path(PYTHON).parent}/gunicorn",
            "connective.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(options.web_workers),
            "--worker-class",
            "gthread",
            "--threads",
            "2",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ],
        env,
    )
    try:
        wait_for_server()
        # Every gunicorn worker loaded and connected before the first figure (its calls are counted too).
        runs = {"warm-up": wrk(options, {"MODE": "mix", "RUN": "warmup", **paths}, seconds=5)}
        runs["bare"] = wrk(options, {"MODE": "fixed", "FIXED_PATH": "/bench/bare/"})
        # The one-INSERT view and the webhook take turns, so that a shared machine's drift between runs
        # falls on both: the ratio is the median of the rounds' ratios.
        for round_number in range(1, options.rounds + 1):
            runs[f"naive-{round_number}"] = wrk(options, {"MODE": "fixed", "FIXED_PATH": "/bench/insert/"})
            runs[f"alone-{round_number}"] = wrk(options, {"MODE": "mix", "RUN": f"alone{round_number}", **paths})
        alone = median_run([runs[f"alone-{number}"] for number in range(1, options.rounds + 1)])
        calm_alone = wrk(
            options,
            {"MODE": "mix", "RUN": "calmalone", **paths, "DELAY_MS": str(pacing_delay_ms(options, alone["rate"] / 2))},
            seconds=max(5, options.seconds // 2),
        )
        # --worker-nice lowers the event workers' priority, to see the acknowledgement as it would be with
        # the workers on nodes of their own; their database work is not niced.
        workers = [
            start(
                ["nice", "-n", str(options.worker_nice), PYTHON, "manage.py", "process_events"],
                {**env, "PGAPPNAME": "connective-event-worker"},
            )
            for _ in range(options.event_workers)
        ]
        try:
            wait_for_drain(timeout=600)  # the workers-stopped run left its events queued: start from empty
            if options.worker_nice:
                niced = nice_database_sessions("connective-event-worker", options.worker_nice)
                print(f"event workers and their {len(niced)} database sessions at nice {options.worker_nice}\n")
            started = time.time()
            sustained = wrk(
                options,
                {
                    "MODE": "mix",
                    "RUN": "sustained",
                    **paths,
                    "DELAY_MS": str(pacing_delay_ms(options, options.sustained_rate)),
                },
            )
            ingest_end = time.time()
            drained = wait_for_drain(timeout=300)
            calm = wrk(
                options,
                {"MODE": "mix", "RUN": "calm", **paths, "DELAY_MS": str(pacing_delay_ms(options, alone["rate"] / 2))},
                seconds=max(5, options.seconds // 2),
            )
            wait_for_drain(timeout=300)
            busy = wrk(options, {"MODE": "mix", "RUN": "busy", **paths})
            wait_for_drain(timeout=300)
        finally:
            for process in workers:
                stop(process)
    finally:
        stop(server)
    runs.update({"calm_alone": calm_alone, "sustained": sustained, "calm": calm, "busy": busy})
    return 0 if report(runs, started, ingest_end, drained, options) else 1


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--event-workers", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=5, help="Turns of the one-INSERT view and the webhook with the workers stopped."
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="CPU priority of the event workers: on shared cores the acknowledgement comes first.",
    )
    parser.add_argument(
        "--sustained-rate",
        type=float,
        default=450,
        help="Deliveries per second of the sustained run (450: about 200 calls/s of the mix).",
    )
    return parser.parse_args()


def nice_database_sessions(application_name, niceness):
    """Lower the CPU priority of the workers' PostgreSQL backends too: on one machine, the database work
    of the workers otherwise competes with the webhook's on equal terms (needs root or the postgres user)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])
        pids = [row[0] for row in cursor.fetchall()]
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except PermissionError:
            print(f"could not lower the priority of the workers' database session {pid}: not root")
    return pids


def median_run(runs):
    """The run of median rate (the lower middle one of an even number)."""
    return sorted(runs, key=lambda run: run["rate"])[(len(runs) - 1) // 2]


def pacing_delay_ms(options, rate):
    """wrk's delay between a connection's requests that offers about `rate` requests per second in all."""
    return max(0, int(options.connections / rate * 1000) - 1) if rate else 0


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
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, body bytea, received_at timestamptz)"
        )
        cursor.execute(
            "TRUNCATE bench_raw, dialogs_feedmessage, dialogs_callevent, actions_enrichmentrun, dialogs_dialog, "
            "channels_app_rawevent, channels_app_telephonychannel, channels_app_bot_members, channels_app_bot CASCADE"
        )
    bot = Bot.objects.create(name="Benchmark")
    setera = TelephonyChannel.from_preset(bot, "Setera", "setera")
    phonon = TelephonyChannel.from_preset(bot, "Phonon", "phonon")
    form = TelephonyChannel.from_preset(bot, "Form", "generic", data_format="form")

    def path(channel):
        return f"/webhooks/telephony/{channel.webhook_id}/?token={channel.token}"

    return {"SETERA_PATH": path(setera), "PHONON_PATH": path(phonon), "FORM_PATH": path(form)}


def start(command, env):
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def wait_for_server():
    import requests

    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{PORT}/health/", timeout=5)
            return
        except requests.RequestException:  # not listening yet, or busy loading the application
            time.sleep(0.1)
    sys.exit("gunicorn did not start")


def wrk(options, env, seconds=None):
    command = [
        "wrk",
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{seconds or options.seconds}s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "ingest.lua"),
        f"http://127.0.0.1:{PORT}",
    ]
    with tempfile.NamedTemporaryFile("r", prefix="wrk-acks-", suffix=".txt") as acks:
        output = subprocess.run(
            command, env={**os.environ, **env, "ACK_FILE": acks.name}, capture_output=True, text=True, check=True
        ).stdout
        record_acknowledgements(acks)
    match = re.search(r"RESULT (.*)", output)
    result = {key: float(value) for key, value in (pair.split("=") for pair in match.group(1).split())}
    result["rate"] = result["requests"] / result["seconds"]
    return result


def record_acknowledgements(lines):
    for line in lines:
        kind, *values = line.split()
        if kind == "call":
            LEDGER["calls"][values[0]] = int(values[1])
        elif kind == "event":
            LEDGER["acknowledged_event_ids"].add(int(values[0]))


def acknowledged_calls():
    """The calls whose every event was answered 2xx at least once (a duplicate delivery repeats an event):
    each acknowledged event id is read back and mapped to its call, as the worker maps it."""
    from channels_app.models import RawEvent, TelephonyChannel

    channels = {channel.pk: channel for channel in TelephonyChannel.objects.all()}
    events_of_call = defaultdict(set)
    ids = sorted(LEDGER["acknowledged_event_ids"])
    for start in range(0, len(ids), 5000):
        rows = RawEvent.objects.filter(pk__in=ids[start : start + 5000]).values_list(
            "channel_id", "body", "content_type"
        )
        for channel_id, body, content_type in rows:
            event = RawEvent(channel=channels[channel_id], body=bytes(body), content_type=content_type)
            for payload in event.payloads():
                events_of_call[event.channel.mapping.map(payload).call_id].add(bytes(body))
    return {call_id for call_id, events in LEDGER["calls"].items() if len(events_of_call[call_id]) >= events}


def calls_without_exactly_one_dialog(call_ids):
    """Of these calls, those with no dialog or more than one."""
    from django.db.models import Count

    from dialogs.models import Dialog

    counts = {}
    call_ids = sorted(call_ids)
    for start in range(0, len(call_ids), 5000):
        chunk = call_ids[start : start + 5000]
        counts.update(Dialog.objects.filter(call_id__in=chunk).values_list("call_id").annotate(n=Count("id")))
    return sorted(call_id for call_id in call_ids if counts.get(call_id) != 1)


def wait_for_drain(timeout):
    from channels_app.models import RawEvent

    deadline = time.time() + timeout
    while time.time() < deadline:
        if not RawEvent.objects.filter(available_at__isnull=False).exists():
            return time.time()
        time.sleep(0.2)
    return None


def report(runs, started, ingest_end, drained, options):
    from django.db.models import Count

    from channels_app.models import RawEvent
    from dialogs.models import Dialog

    rounds = range(1, options.rounds + 1)
    ratios = sorted(runs[f"alone-{number}"]["rate"] / runs[f"naive-{number}"]["rate"] for number in rounds)
    naive = median_run([runs[f"naive-{number}"] for number in rounds])
    alone = median_run([runs[f"alone-{number}"] for number in rounds])
    bare, sustained, calm = (runs[name] for name in ("bare", "sustained", "calm"))
    events = RawEvent.objects.count()
    calls_sent = int(sum(run.get("calls", 0) for run in runs.values()))
    dialogs = Dialog.objects.count()
    complete = Dialog.objects.filter(completed_at__isnull=False)
    per_call = Dialog.objects.values("channel_id", "call_id").annotate(n=Count("id")).filter(n__gt=1).count()
    in_sustained = complete.filter(call_id__startswith="sustained-")
    lags = sorted(
        (updated - last).total_seconds() for updated, last in in_sustained.values_list("updated_at", "last_event_at")
    )
    during = in_sustained.filter(completed_at__lte=_aware(ingest_end), completed_at__gte=_aware(started)).count()
    states = dict(RawEvent.objects.values_list("state").annotate(n=Count("id")))
    print(f"{'view':40} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, run in (
        ("bare Django view", bare),
        ("one-INSERT view (median round)", naive),
        ("webhook, workers stopped (median round)", alone),
        ("webhook at half peak, workers stopped", runs["calm_alone"]),
        ("webhook sustained, workers processing", sustained),
        ("webhook at half its peak rate", calm),
        ("webhook flat out, workers processing", runs["busy"]),
    ):
        print(f"{name:40} {run['rate']:9.0f} {run['p50_ms']:8.2f} {run['p99_ms']:8.2f} {run['errors']:7.0f}")
    print()
    print(f"webhook / bare view:        {alone['rate'] / bare['rate']:.0%} with the workers stopped")
    print(
        f"webhook / one-INSERT view:  {ratios[(len(ratios) - 1) // 2]:.0%} with the workers stopped, median of "
        f"{len(ratios)} rounds ({', '.join(f'{ratio:.0%}' for ratio in ratios)})  (target at least 90%)"
    )
    print(
        f"ack p99 at half peak rate:  {runs['calm_alone']['p99_ms']:.1f} ms with the workers stopped, "
        f"{calm['p99_ms']:.1f} ms with them processing  (target under 25 ms)"
    )
    print(
        f"end to end, sustained run:  {during / (ingest_end - started):.0f} calls/s completed while "
        f"{sustained['calls'] / sustained['seconds']:.0f} calls/s were sent  (target at least 150)"
    )
    if lags:
        print(
            f"lag p95, sustained run, last event to final dialog: {lags[int(len(lags) * 0.95) - 1]:.2f} s  "
            "(target under 2 s)"
        )
    if drained:
        print(f"backlog after the sustained run drained {drained - ingest_end:.1f} s after it stopped")
    else:
        print("backlog after the sustained run: NOT drained within 300 s")
    print(f"events stored: {events}  by state: {states}")
    # A call cut off when wrk stopped (some of its events never sent, or never answered) is not counted:
    # every other call must be exactly one dialog, with no tolerance.
    acknowledged = acknowledged_calls()
    broken = calls_without_exactly_one_dialog(acknowledged)
    verdict = "yes" if acknowledged and not broken and per_call == 0 else "NO"
    print(
        f"calls sent: {calls_sent}; every delivery acknowledged: {len(acknowledged)}; dialogs: {dialogs}; "
        f"calls with more than one dialog: {per_call}"
    )
    print(
        f"acknowledged calls without exactly one dialog: {len(broken)}{' (' + ', '.join(broken[:10]) + ')' if broken else ''}; "
        f"every acknowledged call exactly one dialog: {verdict}"
    )
    print(
        f"complete: {complete.count()} (a call cut off by the end of a run, with only its first events sent, "
        "waits for the sweep)"
    )
    return verdict == "yes"


def _aware(timestamp):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)


if __name__ == "__main__":
    sys.exit(main())
