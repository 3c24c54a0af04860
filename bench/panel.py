"""Operator panel benchmark: a million dialogs on PostgreSQL, timed through the real views.

    .venv/bin/python bench/panel.py [--dialogs 1000000] [--requests 200]

Seeds BENCH_PANEL_DATABASE_URL (default: the local server's database connective_panel_bench, created if
missing; seeding is skipped when it already holds the asked number of dialogs), then prints p50/p95 of the
history page for staff and for an operator, a filtered page, a page deep in the history, and number
searches (a local-format number, partial digits), each through Django's full request handling.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/connective_panel_bench"


def main():
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--dialogs", type=int, default=1_000_000)
    options.add_argument("--requests", type=int, default=200)
    options = options.parse_args()
    url = os.environ.get("BENCH_PANEL_DATABASE_URL", DEFAULT_URL)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "connective.settings",
            "SECRET_KEY": "bench-only",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    create_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    staff, operator = seed(options.dialogs)
    report(staff, operator, options.requests)


def create_database(url):
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(count):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from channels_app.models import Bot, TelephonyChannel
    from dialogs.models import Dialog, Topic

    User = get_user_model()
    staff = User.objects.filter(username="bench-staff").first() or User.objects.create_user(
        "bench-staff", "staff@bench.example", "x", is_staff=True
    )
    operator = User.objects.filter(username="bench-operator").first() or User.objects.create_user(
        "bench-operator", "operator@bench.example", "x"
    )
    if Dialog.objects.count() == count:
        print(f"{count} dialogs already seeded")
        return staff, operator
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE dialogs_feedmessage, dialogs_callevent, actions_enrichmentrun, dialogs_dialog CASCADE")
    bots = [Bot.objects.get_or_create(name=f"Bench bot {n}")[0] for n in range(4)]
    bots[0].members.add(operator)
    channels = []
    for bot in bots:
        for n in range(3):
            channel = TelephonyChannel.objects.filter(bot=bot, name=f"Line {n}").first()
            channels.append(channel or TelephonyChannel.from_preset(bot, f"Line {n}", "generic"))
    topic = Topic.objects.get_or_create(alias="bench", defaults={"name": "Bench"})[0]
    channel_ids = "ARRAY[" + ",".join(str(c.pk) for c in channels) + "]"
    seeded = {
        "channel_id": f"({channel_ids})[1 + n %% {len(channels)}]",
        "call_id": "'bench-' || n",
        "direction": "CASE WHEN (n / 7) %% 3 = 0 THEN 'out' ELSE 'in' END",
        "status": "(ARRAY['answered','answered','answered','missed','busy','voicemail'])[1 + n %% 6]",
        "caller_number": "'+38050' || lpad((n::bigint * 7919 %% 10000000)::text, 7, '0')",
        "callee_number": "'+38044' || lpad((n %% 10000000)::text, 7, '0')",
        "duration": "(n %% 600)",
        "started_at": "t",
        "answered_at": "t + interval '5 seconds'",
        "ended_at": "t + interval '65 seconds'",
        "recording_url": "CASE WHEN n %% 2 = 0 THEN 'https://rec.example/' || n || '.mp3' ELSE '' END",
        "operator_id": f"CASE WHEN n %% 5 = 0 THEN {operator.pk} END",
        "topic_id": f"CASE WHEN n %% 4 = 0 THEN {topic.pk} END",
        "is_test": "n %% 100 = 0",
        "completed_at": "t",
        "ready_at": "t",
        "last_event_at": "t",
        "created_at": "t",
        "updated_at": "t",
        "number_digits": "'38050' || lpad((n::bigint * 7919 %% 10000000)::text, 7, '0') || ' 38044' || "
        "lpad((n %% 10000000)::text, 7, '0')",
    }
    columns, expressions, defaults = defaults_for_the_rest(Dialog, seeded)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO dialogs_dialog ({", ".join(columns)})
            SELECT {", ".join(expressions)}
            FROM generate_series(1, %s) AS n, LATERAL (SELECT now() - (n * interval '30 seconds') AS t) moments
        """,
            [*defaults, count],
        )
        cursor.execute("ANALYZE dialogs_dialog")
    print(f"seeded {count} dialogs in {time.monotonic() - started:.0f} s")
    return staff, operator


def defaults_for_the_rest(model, seeded):
    """The INSERT's columns and expressions: the seeded ones, and every other column at its model default
    (a column added later gets its default here, so the seeding cannot fall behind the model)."""
    from django.db import connection

    columns, expressions, defaults = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in seeded:
            expressions.append(seeded[field.column])
        else:
            expressions.append("%s")
            value = None if field.null and not field.has_default() else field.get_default()
            defaults.append(field.get_db_prep_save(value, connection))
    return columns, expressions, defaults


def timed(client, url, times):
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        response = client.get(url)
        durations.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    durations.sort()
    return statistics.median(durations), durations[int(len(durations) * 0.95) - 1]


def report(staff, operator, times):
    from django.test import Client

    from dialogs.filters import cursor_of
    from dialogs.models import Dialog

    as_staff, as_operator = Client(), Client()
    as_staff.force_login(staff)
    as_operator.force_login(operator)
    deep = Dialog.objects.in_panel().order_by("-started_at", "-id")[min(5000, Dialog.objects.count() // 2)]
    cases = [
        ("history, staff", as_staff, "/panel/"),
        ("history, operator (1 bot of 4)", as_operator, "/panel/"),
        ("filtered: missed incoming calls", as_staff, "/panel/?status=missed&direction=in"),
        ("filtered: mine (operator)", as_operator, "/panel/?operator=me"),
        ("page 100 of the history", as_staff, "/panel/?after=" + cursor_of(deep).replace("+", "%2B")),
        ("number search, local format", as_staff, "/panel/?q=050+000+79+19"),
        ("number search, partial digits", as_staff, "/panel/?q=4567"),
        ("API list, staff", as_staff, "/api/dialogs/"),
    ]
    print(f"\n{Dialog.objects.count()} dialogs; {times} requests each\n{'request':36} {'p50 ms':>8} {'p95 ms':>8}")
    for name, client, url in cases:
        client.get(url)  # warm up
        p50, p95 = timed(client, url, times)
        print(f"{name:36} {p50:8.1f} {p95:8.1f}")
    print("\ntarget: history page p95 under 50 ms")


if __name__ == "__main__":
    main()
