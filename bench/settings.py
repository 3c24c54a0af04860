"""Settings of the benchmark server: the product's, plus the two reference views of bench/urls.py."""

from connective.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
