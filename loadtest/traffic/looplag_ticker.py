"""The load generator's own event-loop lag: a greenlet that asks to wake every ``TICK_S`` and records how late
it woke into the recorder (:meth:`loadtest.metrics.recorder.Recorder.record_loop_lag`).

A gevent loop that is late delays every request it should send and stretches every latency it measures;
a stall of a second sends the missed arrivals of an open model at once. The ticker makes that visible: the
lag goes into the recorder under the process's name (``load generator``, ``load generator 1``...), so a
distributed load generator's lag reaches the master with its drains and every process's lag ends in
``recorder.json`` and ``summary.json`` (``loop_lag``), where :mod:`loadtest.looplag` names the stalls.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent
from gevent import Greenlet

from loadtest.looplag import TICK_S
from loadtest.metrics.recorder import Recorder


class LoopLagTicker:
    """Measures one process's loop lag while it runs; ``recorder_of`` is asked on every tick, so a recorder
    swapped between tests (the web UI) or drained (a load generator) gets the lag from then on."""

    def __init__(self, recorder_of: Callable[[], Recorder], process: str, tick_s: float = TICK_S) -> None:
        self.recorder_of = recorder_of
        self.process = process
        self.tick_s = tick_s
        self._greenlet: Greenlet | None = None

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def start(self) -> None:
        if not self.running:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=1.0)
            self._greenlet = None

    def _run(self) -> None:
        while True:
            due = time.perf_counter() + self.tick_s
            gevent.sleep(self.tick_s)
            lateness = time.perf_counter() - due
            self.recorder_of().record_loop_lag(self.process, time.time(), lateness)

