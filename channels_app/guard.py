"""Cheap refusals in front of the webhook: a short-lived cache of channels (no query per delivery), a
per-address throttle on failed authentication (floods of wrong tokens cost no database work), and a
per-channel ceiling that only an extreme rate reaches. Limiters fail open: if the cache backend is down,
deliveries go through, because a refused call is worse than an unthrottled one."""

import logging
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


class ChannelCache:
    """Channels by webhook id for a few seconds, unknown ids included; bounded in size."""

    def __init__(self, max_entries=10_000):
        self.entries = OrderedDict()
        self.max_entries = max_entries
        self.lock = threading.Lock()

    def get(self, webhook_id, load):
        now = time.monotonic()
        with self.lock:
            entry = self.entries.get(webhook_id)
            if entry and entry[0] > now:
                return entry[1]
        channel = load(webhook_id)
        with self.lock:
            self.entries[webhook_id] = (now + settings.CHANNEL_CACHE_SECONDS, channel)
            self.entries.move_to_end(webhook_id)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return channel

    def cached(self, webhook_id):
        """The channel if this process knows it now, else None; never a query."""
        with self.lock:
            entry = self.entries.get(webhook_id)
        return entry[1] if entry and entry[0] > time.monotonic() else None

    def forget(self, webhook_id):
        with self.lock:
            self.entries.pop(webhook_id, None)


channels = ChannelCache()


def failed_auth_blocked(address):
    """True when this address has failed authentication too often in the last minute."""
    return _count(f"webhook-auth-failures:{address}", 60, add=0) >= settings.WEBHOOK_AUTH_FAILURES_PER_MINUTE


def record_failed_auth(address):
    _count(f"webhook-auth-failures:{address}", 60, add=1)


def channel_over_rate(channel):
    """True when the channel has sent more deliveries this second than it ever should."""
    limit = settings.CHANNEL_MAX_DELIVERIES_PER_SECOND
    if not limit:
        return False
    return _count(f"webhook-rate:{channel.pk}:{int(time.time())}", 2, add=1) > limit


def _count(key, window, add):
    try:
        if add:
            cache.add(key, 0, window)
            return cache.incr(key, add)
        return cache.get(key, 0)
    except Exception:  # a limiter that fails lets traffic through
        log.warning("rate limiter unavailable; letting the delivery through", exc_info=True)
        return 0
