"""What Ctrl-C and SIGTERM do in a gevent process while a run or a discovery goes on: call back, in the
event loop, instead of raising wherever a greenlet happens to be (a user deep in an HTTP client whose
clean-up may swallow it). Used by ``loadtest run``'s loop, a load generator and ``loadtest limits``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import gevent


@contextmanager
def on_interrupt(callback: Callable[[], None]) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM call ``callback`` in the event loop: the run stops in order and
    keeps what it measured."""
    handlers = [gevent.signal_handler(sig, callback) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        yield
    finally:
        for handler in handlers:
            handler.cancel()
