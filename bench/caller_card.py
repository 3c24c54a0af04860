"""Caller card benchmark: a number with 10,000 earlier calls among a million dialogs, on PostgreSQL.

    .venv/bin/python bench/caller_card.py [--dialogs 1000000] [--history 10000] [--runs 200]

Loads BENCH_DATABASE_URL (default: the local server's database bench_caller, created if missing; the
load is skipped when it already holds the asked rows) with one INSERT … SELECT FROM generate_series: two
bots, three channels, the operator a member of the first bot (two channels of three), and `--history`
calls from or to one number spread over the whole history, plus the call ringing now. Then times
caller_card() and the card's partial view (Django's full request handling) for the ringing call, as
staff and as the operator, and prints p50/p95/max, the card's queries and their plans.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_caller"
NUMBER = "+380501234567"


def main():
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--dialogs", type=int, default=1_000_000)
    options.add_argument("--history", type=int, default=10_000, help="earlier calls of the number")
    options.add_argument("--runs", type=int, default=200)
    options = options.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "connective.settings",
            "SECRET_KEY": "bench-only",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    from bench.panel import create_database

    create_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    staff, operator = users()
    ringing = load(options.dialogs, options.history)
    report(ringing, staff, operator, options.runs)


def users():
    from django.contrib.auth import get_user_model

    User = get_user_model()
    staff = User.objects.filter(username="bench-staff").first() or User.objects.create_user(
        "bench-staff", "staff@bench.example", "x", is_staff=True
    )
    operator = User.objects.filter(username="bench-operator").first() or User.objects.create_user(
        "bench-operator", "operator@bench.example", "x"
    )
    return staff, operator


def load(count, history):
    """The dialogs (the last one ringing now, from NUMBER); the ringing dialog."""
    from django.db import connection
    from django.utils import timezone

    from bench.panel import defaults_for_the_rest
    from channels_app.models import Bot, TelephonyChannel
    from dialogs.models import Dialog, Topic

    ringing = Dialog.objects.filter(call_id="ringing-now").first()
    if Dialog.objects.count() == count + 1 and Dialog.objects.filter(customer_key=NUMBER).count() == history + 1:
        print(f"{count} dialogs and the ringing call already loaded")
        return ringing
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE dialogs_feedmessage, dialogs_callevent, actions_enrichmentrun, dialogs_dialog CASCADE")
    _, operator = users()
    bots = [Bot.objects.get_or_create(name=name)[0] for name in ("Bench sales", "Bench support")]
    bots[0].members.add(operator)
    channels = []
    for bot, name in ((bots[0], "Line 1"), (bots[0], "Line 2"), (bots[1], "Line 3")):
        channel = TelephonyChannel.objects.filter(bot=bot, name=name).first()
        channels.append(channel or TelephonyChannel.from_preset(bot, name, "generic"))
    topic = Topic.objects.get_or_create(alias="bench", defaults={"name": "Bench"})[0]
    channel_ids = "ARRAY[" + ",".join(str(c.pk) for c in channels) + "]"
    every = max(count // max(history, 1), 1)
    of_the_number = f"n %% {every} = 0 AND n / {every} <= {history}"
    other = "'+38067' || lpad((n::bigint * 7919 %% 10000000)::text, 7, '0')"
    customer = f"CASE WHEN {of_the_number} THEN '{NUMBER}' ELSE {other} END"
    outgoing = "(n / 7) %% 3 = 0"
    line = "'+380441234567'"
    loaded = {
        "channel_id": f"({channel_ids})[1 + n %% {len(channels)}]",
        "call_id": "'bench-' || n",
        "direction": f"CASE WHEN {outgoing} THEN 'out' ELSE 'in' END",
        "status": "(ARRAY['answered','answered','answered','missed','busy','voicemail'])[1 + n %% 6]",
        "caller_number": f"CASE WHEN {outgoing} THEN {line} ELSE {customer} END",
        "callee_number": f"CASE WHEN {outgoing} THEN {customer} ELSE {line} END",
        "customer_key": customer,
        "duration": "(n %% 600)",
        "started_at": "t",
        "answered_at": "t + interval '5 seconds'",
        "ended_at": "t + interval '65 seconds'",
        "operator_id": f"CASE WHEN n %% 5 = 0 THEN {operator.pk} END",
        "topic_id": f"CASE WHEN n %% 4 = 0 THEN {topic.pk} END",
        "completed_at": "t",
        "ready_at": "t",
        "last_event_at": "t",
        "created_at": "t",
        "updated_at": "t",
        "number_digits": "''",
    }
    columns, expressions, defaults = defaults_for_the_rest(Dialog, loaded)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO dialogs_dialog ({", ".join(columns)})
            SELECT {", ".join(expressions)}
            FROM generate_series(1, %s) AS n, LATERAL (SELECT now() - (n * interval '30 seconds') AS t) moments
            """,
            [*defaults, count],
        )
    ringing = Dialog(channel=channels[0], call_id="ringing-now", direction="in", caller_number=NUMBER)
    ringing.callee_number, ringing.customer_key, ringing.started_at = "+380441234567", NUMBER, timezone.now()
    ringing.save()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE dialogs_dialog")
    print(f"loaded {count} dialogs ({history} of {NUMBER}) in {time.monotonic() - started:.0f} s")
    return ringing


def timed(function, runs):
    function()  # warm up
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return statistics.median(durations), durations[max(int(len(durations) * 0.95) - 1, 0)], durations[-1]


def report(ringing, staff, operator, runs):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from dialogs.caller import caller_card
    from dialogs.models import Dialog

    print(f"\n{Dialog.objects.count()} dialogs; {runs} runs each\n{'':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for who, user in (("staff", staff), ("operator", operator)):
        client = Client()
        client.force_login(user)
        card = caller_card(ringing, user)
        cases = [
            (f"caller card, {who} ({card.earlier_calls} earlier)", lambda user=user: caller_card(ringing, user)),
            (f"caller card view, {who}", lambda client=client: client.get(f"/panel/dialogs/{ringing.pk}/caller/")),
        ]
        for name, function in cases:
            p50, p95, worst = timed(function, runs)
            print(f"{name:40} {p50:8.1f} {p95:8.1f} {worst:8.1f}")
    print("\ntarget: caller card p95 under 50 ms\n")
    for who, user in (("staff", staff), ("operator", operator)):
        with CaptureQueriesContext(connection) as captured:
            caller_card(ringing, user)
        for query in captured.captured_queries:
            print(f"-- {who}: {query['sql']}")
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query["sql"])
                print("\n".join("   " + row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
