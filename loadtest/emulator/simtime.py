"""Simulated time: one endpoint's pending events (job ends, stream chunks, progress, worker timers), applied
in the order of their simulated times whatever the event loop's lateness.

Why not one ``loop.call_at`` per event: when the loop falls behind, asyncio runs a batch of due timers in
one turn and I/O callbacks in between, so an event scheduled while catching up (a job end already in the
past) runs after events due later, and a client request handled late can overtake events that were due
before it was handled. Both break the simulation: FIFO pickup goes to whichever end runs first in real
time, and a cancel can overturn a job that had already finished.

Here every event goes into one heap. :meth:`SimulatedTime.advance` applies every event due by a moment,
in time order (including the events they schedule at or before it), and the endpoint calls it before it
handles any client request, so a request always sees the state at the moment it is handled. One loop
timer fires at the earliest pending event, so changes also become visible (long polls wake) without a
request. :attr:`SimulatedTime.now` is the simulated moment of the transition being applied: an event's
own time while it runs, the request's arrival time (``loop.time()`` when the loop got to it) otherwise;
it never goes backwards.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Event:
    """One pending event; :meth:`cancel` drops it (it stays in the heap and is skipped)."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimulatedTime:
    """The simulated clock of one endpoint and its pending events."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.now = loop.time()
        """The simulated moment of the transition being applied (monotone)."""
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = math.inf
        self._applying = False
        self._closed = False
        self._soon = False

    def at(self, when: float, callback: Callable[..., None], *args: Any) -> Event:
        """Schedule ``callback(*args)`` at simulated time ``when`` (a time already past is applied at the
        next :meth:`advance`, in its place in time order)."""
        event = Event(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), event))
        if when < self._armed_at and not self._applying and not self._closed:
            if when > self.loop.time():
                self._arm(when)
            elif not self._soon:  # already due: apply it at the loop's next turn, keep the armed timer
                self._soon = True
                self.loop.call_soon(self._fire_soon)
        return event

    def advance(self, until: float | None = None) -> float:
        """Apply every event due by ``until`` (default: the loop's clock now) in time order; the new ``now``."""
        if self._applying:  # called from an event being applied: its moment stays the present
            return self.now
        if until is None:
            until = self.loop.time()
        heap = self._heap
        if heap and heap[0][0] <= until:
            self._applying = True
            try:
                while heap and heap[0][0] <= until:
                    when, _, event = heapq.heappop(heap)
                    if event.cancelled:
                        continue
                    if when > self.now:
                        self.now = when
                    try:
                        event.callback(*event.args)
                    except Exception:  # a bug in one event must not hold back the others (as asyncio does)
                        log.exception("error applying simulated event %r", event.callback)
            finally:
                self._applying = False
            self._rearm()
        if until > self.now:
            self.now = until
        return self.now

    @property
    def pending(self) -> int:
        """Events in the heap (cancelled ones included until their time comes)."""
        return len(self._heap)

    def close(self) -> None:
        """Drop every pending event and the loop timer."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_at = math.inf
        self._heap.clear()

    # --- the loop timer --------------------------------------------------------------------------------
    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_at = when
        self._timer = self.loop.call_at(when, self._fire, when)

    def _rearm(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        if self._closed:
            return
        if not heap:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._armed_at = math.inf
        elif heap[0][0] != self._armed_at:
            self._arm(heap[0][0])

    def _fire_soon(self) -> None:
        self._soon = False
        if not self._closed:
            self.advance()

    def _fire(self, when: float) -> None:
        self._timer = None
        self._armed_at = math.inf
        # asyncio may run a timer up to its clock resolution early: the event it was armed for is due.
        self.advance(max(self.loop.time(), when))
        if self._timer is None and self._heap and not self._closed:
            self._rearm()
