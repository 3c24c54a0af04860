"""The production application (connective.serve runs it): ASGI, so that an open live stream is a coroutine.

Only the operator panel's live stream goes to Django's ASGI handler. Every other request goes to the WSGI
application (connective.wsgi, with its charset guard and frozen collector) on a pool of WEB_THREADS threads,
as gunicorn's threaded worker would serve it: under Django's ASGI handler a sync view would wait its turn for
one thread per process, and every page and webhook is sync.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connective.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402 (after the settings module is named)
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import reverse  # noqa: E402

from connective.wsgi import application as wsgi_application  # noqa: E402


def by_path(streams, pages, stream_paths):
    async def application(scope, receive, send):
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"] in stream_paths:
            await streams(scope, receive, send)
        else:
            await pages(scope, receive, send)

    return application


async def answer_lifespan(receive, send):
    """Nothing to start or stop: each process connects to the database when it first needs to."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


application = by_path(
    streams=get_asgi_application(),
    pages=WSGIMiddleware(wsgi_application, workers=int(os.environ.get("WEB_THREADS", "8"))),
    stream_paths={reverse("panel-live-stream")},
)
