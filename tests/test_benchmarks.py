"""Every benchmark still runs: a tiny smoke run of each script (the figures stay out of tests)."""

import os
import subprocess
import sys

import pytest
from django.db import connection

from .conftest import PROJECT_DIR


def run_bench(script, *arguments, env=None, timeout=300):
    completed = subprocess.run(
        [sys.executable, f"bench/{script}", *arguments],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SECRET_KEY": "bench-only", **(env or {})},
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return completed.stdout


def postgres_url(database):
    if connection.vendor != "postgresql":
        pytest.skip("the benchmark runs on PostgreSQL")
    settings = connection.settings_dict
    return f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{database}"


@pytest.mark.django_db
def test_the_panel_benchmark_seeds_and_times_every_page():
    output = run_bench(
        "panel.py",
        "--dialogs",
        "300",
        "--requests",
        "2",
        env={"BENCH_PANEL_DATABASE_URL": postgres_url("connective_panel_smoke")},
    )
    assert "history, staff" in output and "API list, staff" in output


@pytest.mark.django_db
def test_the_worker_benchmark_drains_its_backlog_into_one_dialog_per_call():
    output = run_bench(
        "worker.py",
        "--calls",
        "40",
        "--streams",
        "4",
        env={"BENCH_DATABASE_URL": postgres_url("connective_worker_smoke")},
    )
    assert "events/s" in output and "every call exactly one complete dialog: yes" in output


@pytest.mark.django_db
def test_the_ingest_benchmark_runs_its_rounds_and_every_acknowledged_call_is_one_dialog():
    output = run_bench(
        "ingest.py",
        "--seconds",
        "1",
        "--rounds",
        "1",
        "--connections",
        "4",
        "--threads",
        "1",
        "--web-workers",
        "1",
        "--event-workers",
        "1",
        "--sustained-rate",
        "50",
        env={"BENCH_DATABASE_URL": postgres_url("connective_ingest_smoke")},
    )
    assert "webhook / one-INSERT view" in output
    assert "every acknowledged call exactly one dialog: yes" in output


def test_the_parse_benchmark_compares_two_versions():
    output = run_bench(
        "parse.py", "--against", str(PROJECT_DIR / "channels_app" / "parsing.py"), "--rounds", "2", "--number", "10"
    )
    assert output.count("µs") == 6


def test_the_transcription_benchmark_measures_a_clip():
    output = run_bench("transcribe.py", "--clips", "1")
    assert "real-time factor" in output and "WER" in output
