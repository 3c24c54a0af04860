"""The production web server: gunicorn managing uvicorn workers that run connective.asgi.

    python -m connective.serve [extra gunicorn options]

BIND (default 127.0.0.1:8000), WEB_CONCURRENCY processes (default: one per core), WEB_THREADS threads each
for pages and webhooks (connective.asgi). The server believes no X-Forwarded-* header: which proxies are
trusted is the application's TRUSTED_PROXIES setting alone.
"""

import os
import sys


def command(extra=()):
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "connective.asgi:application",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--bind",
        os.environ.get("BIND", "127.0.0.1:8000"),
        "--workers",
        os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 1)),
        "--forwarded-allow-ips",
        "",
        "--no-control-socket",  # several servers may share a machine; none is controlled through a socket
        "--backlog",
        "2048",
        # A restart cuts open live streams after this long; each panel reconnects and resumes where it was.
        "--graceful-timeout",
        "5",
        "--log-level",
        os.environ.get("LOG_LEVEL", "info").lower(),
        *extra,
    ]


if __name__ == "__main__":
    arguments = command(sys.argv[1:])
    os.execv(arguments[0], arguments)
