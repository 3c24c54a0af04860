"""The operator panel's live stream: server-sent events, one stream per open panel.

One hub per web process reads each change once (woken by PostgreSQL's NOTIFY at the commit, or on SQLite by a
short poll) and hands it to the streams whose user may see it. A waiting stream holds no thread and no database
connection: it needs the ASGI server (under WSGI the view answers 503 and the panel polls instead).
"""

import asyncio
import contextlib
import json
import logging
import time
import weakref

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections, connections
from django.db.models import Q
from django.http import HttpResponse, StreamingHttpResponse

from accounts.models import User

from .live import Viewer, board, changes_since, message_for, states
from .models import LiveUpdate

log = logging.getLogger(__name__)

START_MARGIN = 200
GAP_PATIENCE = 10.0  # seconds a missing change id is awaited (a transaction committing late) before it is given up
READ_LIMIT = 5000


def in_thread(function):
    return sync_to_async(function, thread_sensitive=False)


def read_changes(after, gaps):
    """The changes after `after` and those among `gaps` that have committed since, with their dialogs' states."""
    close_old_connections()
    wanted = Q(id__gt=after) | Q(id__in=gaps) if gaps else Q(id__gt=after)
    rows = list(LiveUpdate.objects.filter(wanted).order_by("id").values_list("id", "dialog_id")[:READ_LIMIT])
    seq_by_dialog = {dialog_id: pk for pk, dialog_id in rows}
    return [pk for pk, _ in rows], states(seq_by_dialog) if rows else []


def starting_point():
    """Just before the START_MARGIN newest changes: a starting hub hands them out again (a change committing
    as the hub starts is not lost; a repeated state is harmless). None when there is no change yet."""
    newest = list(LiveUpdate.objects.order_by("-id").values_list("id", flat=True)[:START_MARGIN])
    return newest[-1] - 1 if newest else None


class Subscription:
    def __init__(self, viewer):
        self.viewer = viewer
        self.queue = asyncio.Queue(settings.LIVE_QUEUE_SIZE)
        self.overflowed = False

    def offer(self, cursor, text):
        try:
            self.queue.put_nowait((cursor, text))
        except asyncio.QueueFull:
            self.overflowed = True


class Hub:
    """Reads the changes of dialogs for the streams of this process, while any is open."""

    _hubs = weakref.WeakKeyDictionary()  # one per event loop

    def __init__(self):
        self.subscriptions = set()
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.task = None
        self.high = None  # the newest change handed out
        self.gaps = {}  # {missing change id: when first missed}, below `high`

    @classmethod
    def here(cls):
        loop = asyncio.get_running_loop()
        if loop not in cls._hubs:
            cls._hubs[loop] = cls()
        return cls._hubs[loop]

    @property
    def cursor(self):
        """Every change up to this one was handed out (or given up): where a stream may resume."""
        return min(self.gaps) - 1 if self.gaps else (self.high or 0)

    def subscribe(self, viewer):
        subscription = Subscription(viewer)
        self.subscriptions.add(subscription)
        if self.task is None or self.task.done():
            self.ready.clear()
            self.task = asyncio.create_task(self.run())
        return subscription

    def unsubscribe(self, subscription):
        self.subscriptions.discard(subscription)
        if not self.subscriptions:
            self.wake.set()  # lets the hub see it has no one to read for

    async def run(self):
        postgres = connections["default"].vendor == "postgresql"
        listener = asyncio.create_task(self.listen()) if postgres else None
        interval = settings.LIVE_SAFETY_POLL_SECONDS if postgres else settings.LIVE_POLL_SECONDS
        try:
            self.high, self.gaps = await in_thread(starting_point)(), {}
            self.ready.set()
            while self.subscriptions:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), interval)
                self.wake.clear()
                if self.subscriptions:
                    await self.hand_out_safely()
        finally:
            if listener:
                listener.cancel()

    async def hand_out_safely(self):
        try:
            ids, changed = await in_thread(read_changes)(self.high or 0, list(self.gaps))
        except Exception:  # the database is away: the streams wait, and the changes wait in their table
            log.exception("reading the live changes failed; trying again")
            await asyncio.sleep(1)
            return
        self.take(ids)
        self.hand_out(changed)

    def take(self, ids):
        now = time.monotonic()
        for pk in ids:
            self.gaps.pop(pk, None)
            if self.high is None:  # the first change ever seen: the ids below it were never ours to wait for
                self.high = pk - 1
            if pk > self.high:
                if pk - self.high <= READ_LIMIT:
                    self.gaps.update(dict.fromkeys(range(self.high + 1, pk), now))
                self.high = pk
        self.gaps = {pk: since for pk, since in self.gaps.items() if now - since < GAP_PATIENCE}

    def hand_out(self, changed):
        cursor = self.cursor
        for state in changed:
            texts = {}  # the same text for every viewer alike: serialised once
            for subscription in list(self.subscriptions):
                viewer = subscription.viewer
                if not viewer.may_see(state):
                    continue
                key = state["phase"] != "gone" and viewer.is_concerned(state)
                if key not in texts:
                    texts[key] = message_for(state, viewer)
                subscription.offer(cursor, texts[key])

    async def listen(self):
        """Wake the hub at every NOTIFY of a committed change, on a connection of its own."""
        params = connections["default"].get_connection_params()
        conninfo = {key: params[key] for key in ("dbname", "user", "password", "host", "port") if params.get(key)}
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**conninfo, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {LiveUpdate.NOTIFY_CHANNEL}")
                    self.wake.set()  # whatever committed while no one listened
                    async for _ in connection.notifies():
                        self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("listening for live changes failed; polling until it works again", exc_info=True)
                await asyncio.sleep(2)


def sse(event, data, event_id=None):
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def resume_point(request):
    """The change a stream resumes after: EventSource's Last-Event-ID on a reconnect, or the page's `after`."""
    value = request.headers.get("Last-Event-ID") or request.GET.get("after") or ""
    return int(value) if value.isdigit() and len(value) < 19 else None


async def live_stream(request):
    if not isinstance(request, ASGIRequest):
        return HttpResponse("The live stream needs the ASGI server; the panel polls.", status=503)
    user = await in_thread(logged_in_user)(request)
    if user is None:
        return HttpResponse("Log in to follow the live calls.", status=403)
    viewer = await in_thread(Viewer.of)(user)
    response = StreamingHttpResponse(events(user, viewer, resume_point(request)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def logged_in_user(request):
    """The request's active user, or None. Read on the shared threads: `request.auser()` would read the session
    on the request's own thread, whose database connection then stays open for as long as the stream does."""
    close_old_connections()
    user = request.user
    return user if user.is_authenticated and user.is_active else None


async def events(user, viewer, after):
    hub = Hub.here()
    subscription = hub.subscribe(viewer)
    try:
        await hub.ready.wait()
        resumed_at = max(after or 0, hub.cursor)
        yield "retry: 3000\n\n"
        replay = await in_thread(changes_since)(after) if after is not None else None
        if replay is None:
            yield sse("board", json.dumps((await in_thread(board)(user, viewer))["calls"]))
        else:
            for state in replay:
                if text := message_for(state, viewer):
                    yield sse("call", text)
        yield sse("ready", json.dumps({"cursor": resumed_at}), resumed_at)
        async for chunk in live_messages(user, subscription):
            yield chunk
    finally:
        hub.unsubscribe(subscription)


async def live_messages(user, subscription):
    refreshed = time.monotonic()
    while True:
        try:
            cursor, text = await asyncio.wait_for(subscription.queue.get(), settings.LIVE_HEARTBEAT_SECONDS)
        except TimeoutError:
            yield ": still here\n\n"
        else:
            yield sse("call", text, cursor)
        if subscription.overflowed:
            subscription.overflowed = False
            while not subscription.queue.empty():
                subscription.queue.get_nowait()
            yield sse("board", json.dumps((await in_thread(board)(user, subscription.viewer))["calls"]))
        if (
            time.monotonic() - refreshed > settings.LIVE_VIEWER_REFRESH_SECONDS
        ):  # bots joined or left, or the user deactivated
            refreshed = time.monotonic()
            if not await in_thread(still_active)(user.pk):
                return
            subscription.viewer = await in_thread(Viewer.of)(user)


def still_active(user_pk):
    close_old_connections()
    return User.objects.filter(pk=user_pk, is_active=True).exists()
