"""Project-wide promises: users, settings, and the demo data."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError

from channels_app.models import Bot, TelephonyChannel

PROJECT_DIR = Path(__file__).parent.parent


@pytest.mark.django_db
def test_user_emails_are_unique_ignoring_case(django_user_model):
    django_user_model.objects.create_user("a", "Olena@Example.com", "pw-aaa-111")
    duplicate = django_user_model(username="b", email="olena@example.COM")
    with pytest.raises(ValidationError):
        duplicate.full_clean()
    with pytest.raises(IntegrityError):
        duplicate.save()


@pytest.mark.django_db
def test_operators_are_found_by_email_ignoring_case_and_only_when_active(django_user_model):
    user = django_user_model.objects.create_user("a", "Olena@Example.com", "pw-aaa-111")
    assert django_user_model.objects.active_by_email(" OLENA@example.com ") == user
    user.is_active = False
    user.save()
    assert django_user_model.objects.active_by_email("olena@example.com") is None
    assert django_user_model.objects.active_by_email("") is None


def test_django_q_redelivers_only_after_the_longest_task_and_gives_up_eventually():
    cluster = settings.Q_CLUSTER
    assert cluster["retry"] > cluster["timeout"]
    assert cluster["max_attempts"] > 0


def settings_in_subprocess(env, expression):
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "connective.settings", **env}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, env=full_env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_redis_url_switches_django_q_to_its_redis_broker():
    with_redis = settings_in_subprocess(
        {"REDIS_URL": "redis://127.0.0.1:6379/3"}, "settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm')"
    )
    without = settings_in_subprocess(
        {"REDIS_URL": ""}, "settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm')"
    )
    assert with_redis == "redis://127.0.0.1:6379/3 None"
    assert without == "None default"


def test_database_url_and_public_base_url_come_from_the_environment():
    value = settings_in_subprocess(
        {"DATABASE_URL": "postgres://u@db.internal:6543/calls", "PUBLIC_BASE_URL": "https://calls.example/"},
        "settings.DATABASES['default']['HOST'], settings.DATABASES['default']['NAME'], settings.PUBLIC_BASE_URL",
    )
    assert value == "db.internal calls https://calls.example"


def test_without_a_secret_key_the_product_refuses_to_start_outside_debug():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "connective.settings", "SECRET_KEY": "", "DEBUG": "false"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_demo_data_is_created_once_with_working_channels(django_user_model):
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    call_command("seed_demo", stdout=open(os.devnull, "w"))

    assert django_user_model.objects.get(username="admin").is_superuser
    assert Bot.objects.count() == 1
    channels = TelephonyChannel.objects.all()
    assert sorted(channel.name for channel in channels) == ["Main telephony", "Phonon Central", "Setera OneCloud"]
    for channel in channels:
        channel.full_clean()
