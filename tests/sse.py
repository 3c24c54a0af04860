"""A server-sent-events client for tests: reads a stream in a thread, so a test can wait for what it expects
and prove what never came."""

import json
import queue
import threading
import time
from dataclasses import dataclass

import requests


@dataclass
class Event:
    kind: str
    data: object
    id: str | None


class Stream:
    def __init__(self, url, cookies=None, last_event_id=None):
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.response = requests.get(url, cookies=cookies, headers=headers, stream=True, timeout=(5, 30))
        self.events = queue.Queue()
        self.last_event_id = last_event_id
        self.seen = []
        self.ended = threading.Event()  # the server ended the stream (or the test closed it)
        if self.response.status_code == 200:
            threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        kind, data, event_id = "message", [], None
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line == "":
                    if data or event_id is not None:
                        self.events.put(Event(kind, json.loads("\n".join(data)) if data else None, event_id))
                    kind, data, event_id = "message", [], None
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line.startswith("id: "):
                    event_id = line[4:]
        except Exception:  # closed by the test
            pass
        self.ended.set()

    def next(self, kind=None, timeout=10, where=lambda event: True):
        """The next event of this kind (and matching `where`); the events skipped on the way are kept in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind or 'event'} within {timeout} s; seen: {self.seen}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(event)
            if event.id is not None:
                self.last_event_id = event.id
            if (kind is None or event.kind == kind) and where(event):
                return event

    def call(self, dialog_id, phase, timeout=10):
        return self.next(
            "call", timeout, lambda event: event.data["id"] == dialog_id and event.data["phase"] == phase
        ).data

    def calls(self):
        return [event.data for event in self.seen if event.kind == "call"]

    def close(self):
        self.response.close()
