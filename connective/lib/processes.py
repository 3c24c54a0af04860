import signal


def stop_on_signals():
    """A `stop()` for a long-running loop: true once SIGTERM or SIGINT arrived, so the loop ends cleanly."""
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    return lambda: bool(stopping)
