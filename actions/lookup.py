"""Caller lookup: at a call's first event, the channel's caller lookup action (an Action Jail action) names
the caller for the caller card (caller_name, caller_url, caller_company and whatever else it outputs).

The event worker hands the new dialogs over after the merge's commit (start_caller_lookups); the runs
happen in a small pool of threads of the worker's process, never on the merge's path, and not on the
django-q queue, where enrichments and transcriptions may keep a lookup waiting far past its deadline.
Each run must end within its channel's deadline (a few seconds): the action's timeout and retries are
cut to fit, and an answer that comes later counts as none. A lookup that cannot start because too many
are waiting fails at once. The outcome is one UPDATE of the dialog's caller_lookup:

    {"state": "pending", "at": iso, "deadline": 2.0}
    {"state": "done", "outputs": {...}, "at": iso, "seconds": 0.12}
    {"state": "failed", "error": "no answer within 2 s", "at": iso}

The outputs stay in caller_lookup alone: the dialog's extra is folded from its events (and the enrich
action's outputs) every time an event comes, and would lose them.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from dialogs.models import Dialog, LiveUpdate

from .kinds import KINDS

log = logging.getLogger(__name__)


def start_caller_lookups(dialog_ids):
    """Start the caller lookup of each new dialog whose channel has a lookup action. Never raises: a
    lookup that cannot start is the card's concern, never the worker's."""
    try:
        rows = list(
            Dialog.objects.filter(pk__in=dialog_ids, channel__caller_lookup_action__isnull=False).values_list(
                "pk", "channel__caller_lookup_deadline"
            )
        )
        by_deadline = {}
        for pk, deadline in rows:
            by_deadline.setdefault(deadline, []).append(pk)
        for deadline, pks in by_deadline.items():
            Dialog.keep_caller_lookup(pks, {"state": "pending", "at": timezone.now().isoformat(), "deadline": deadline})
            for pk in pks:
                if not LOOKUPS.submit(pk, deadline):
                    store(pk, failed("too many lookups at once"))
    except Exception:
        log.exception("starting the caller lookups of dialogs %s failed", dialog_ids)


def look_up(dialog_id, deadline, ends_at):
    """Run the lookup of one dialog, to end by `ends_at` (time.monotonic()), and store what it gave."""
    dialog = Dialog.objects.select_related("channel__bot", "channel__caller_lookup_action").filter(pk=dialog_id).first()
    if dialog is None:
        return  # deleted meanwhile
    action = dialog.channel.caller_lookup_action
    if action is None:
        store(dialog_id, failed("the channel no longer has a caller lookup action"))
        return
    remaining = ends_at - time.monotonic()
    if remaining <= 0:  # it waited for a free thread all that time
        store(dialog_id, failed(f"no answer within {deadline:g} s"))
        return
    action.parameters = within(action, remaining)
    result = action.run(dialog.call_state())
    if time.monotonic() >= ends_at:
        store(dialog_id, failed(f"no answer within {deadline:g} s"))
    elif result.error:
        store(dialog_id, failed(result.error))
    else:
        store(dialog_id, {**stamped("done"), "outputs": result.outputs, "seconds": round(result.duration, 3)})


def within(action, seconds):
    """The action's parameters with its timeout and retries cut so that a run takes at most `seconds`."""
    kind, parameters = KINDS[action.kind], dict(action.parameters)
    if "timeout" not in kind.schema["properties"]:
        return parameters
    parameters["timeout"] = min(parameters.get("timeout", 5), seconds)
    parameters["retries"] = parameters.get("retries", 2)
    while parameters["retries"] and kind.longest_run(parameters) > seconds:
        parameters["retries"] -= 1
    return parameters


def failed(error):
    return {**stamped("failed"), "error": error}


def stamped(state):
    return {"state": state, "at": timezone.now().isoformat()}


def store(dialog_id, lookup):
    Dialog.keep_caller_lookup([dialog_id], lookup)
    stored(dialog_id)


def store_safely(dialog_id, lookup):
    try:
        store(dialog_id, lookup)
    except Exception:  # the database went away: the card tells the lookup is overdue once its deadline passed
        log.exception("storing the caller lookup of dialog %s failed", dialog_id)


def stored(dialog_id):
    """The dialog's caller card changed: the live board and the pop-up show it."""
    LiveUpdate.announce([dialog_id])


class LookupPool:
    """Threads that run lookups, started as needed up to CALLER_LOOKUP_THREADS. At most
    CALLER_LOOKUP_MAX_AT_ONCE lookups wait or run at once; beyond that, submit refuses."""

    def __init__(self):
        self.jobs = []
        self.threads = []
        self.unfinished = 0
        self.changed = threading.Condition()

    def submit(self, dialog_id, deadline):
        with self.changed:
            if self.unfinished >= settings.CALLER_LOOKUP_MAX_AT_ONCE:
                return False
            self.unfinished += 1
            self.jobs.append((dialog_id, deadline, time.monotonic() + deadline))
            self.threads = [thread for thread in self.threads if thread.is_alive()]  # none after a fork
            if len(self.threads) < settings.CALLER_LOOKUP_THREADS:
                thread = threading.Thread(target=self.serve, name=f"caller-lookup-{len(self.threads)}", daemon=True)
                self.threads.append(thread)
                thread.start()
            self.changed.notify_all()
        return True

    def serve(self):
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.jobs)
                job = self.jobs.pop(0)
            try:
                look_up(*job)
            except Exception as exc:
                log.exception("the caller lookup of dialog %s failed", job[0])
                store_safely(job[0], failed(f"{type(exc).__name__}: {str(exc)[:200]}"))
            finally:
                connection.close()  # this thread's own connection; an idle pool holds none
                with self.changed:
                    self.unfinished -= 1
                    self.changed.notify_all()

    def wait(self, timeout):
        """Wait until no lookup waits or runs (at most `timeout` seconds); whether none does."""
        with self.changed:
            return self.changed.wait_for(lambda: self.unfinished == 0, timeout)


LOOKUPS = LookupPool()
