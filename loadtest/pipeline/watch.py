"""What may stop a run early, and why it did: the watchers every run's loop calls.

Each watcher returns ``None`` while the run may go on, or a sentence; the first sentence stops the run.
Those that mean the run could not measure what it set out to (a dead target, a refused key, a target
that stopped answering) are kept as :attr:`RunWatch.failure`, an error of the project with the exit code
it earns (:class:`~loadtest.errors.TargetFailure`, :class:`~loadtest.errors.KeyRefused`), so the
pipeline reports them and never passes the run. A lost ``abort`` threshold stops the run too, but is a
verdict, not a failure.

``loadtest run``'s loop calls them every tick; a session Locust drives itself gets a greenlet that does
(:meth:`RunWatch.follow`); a limit discovery watches its emulator with them (without a runtime: the
discovery checks its own requests' answers).
"""

from __future__ import annotations

import logging
import time

import gevent
from gevent import Greenlet

from loadtest.check.live import LiveThresholds
from loadtest.errors import KeyRefused, LoadtestError, TargetFailure
from loadtest.pipeline.target import Target
from loadtest.traffic.outcome import Watcher
from loadtest.traffic.runtime import TrafficRuntime

logger = logging.getLogger("loadtest")

LIVE_CHECK_S = 2.0
"""How often thresholds marked ``abort`` are judged on the live recorder (``loadtest.check.live``)."""
FOLLOW_S = 1.0
"""How often :meth:`RunWatch.follow` runs the watchers during a test Locust drives."""


class RunWatch:
    """The watchers of one run over its target and its runtime; the first failure they saw."""

    def __init__(self, runtime: TrafficRuntime | None, target: Target | None) -> None:
        self.runtime = runtime
        self.target = target
        self.failure: LoadtestError | None = None
        self.live = LiveThresholds.from_scenario(runtime.scenario) if runtime is not None else None
        self._next_live_check = time.monotonic() + LIVE_CHECK_S

    def rearm(self) -> None:
        """Watch a new test of the same session (the web UI): no failure seen yet, thresholds from the start."""
        self.failure = None
        self.live = LiveThresholds.from_scenario(self.runtime.scenario) if self.runtime is not None else None
        self._next_live_check = time.monotonic() + LIVE_CHECK_S

    def watchers(self) -> list[Watcher]:
        found: list[Watcher] = [self.target_alive]
        if self.runtime is not None:
            found += [self.key_accepted, self.target_answering]
        if self.live is not None:
            found.append(self.thresholds_kept)
        return found

    def check(self) -> str | None:
        """Every watcher once; the first sentence, or None."""
        for watcher in self.watchers():
            reason = watcher()
            if reason is not None:
                return reason
        return None

    def follow(self, runtime: TrafficRuntime) -> Greenlet:
        """For a test whose loop is Locust's (the web UI, ``locust -f``): the watchers every second, and a
        stop requested when one answers. Kill the greenlet when the session ends."""

        def loop() -> None:
            while True:
                gevent.sleep(FOLLOW_S)
                if runtime.control.stopping:
                    continue
                reason = self.check()
                if reason is not None:
                    logger.error("loadtest: %s; stopping the test", reason)
                    runtime.request_stop(reason)

        return gevent.spawn(loop)

    def settle(self) -> LoadtestError | None:
        """After the run loop: look once more (a key refused or a target dying between two ticks, or a stop
        requested by the runtime itself, is still a failure of the run)."""
        for watcher in (self.target_alive, self.key_accepted, self.target_answering):
            if watcher() is not None:
                break
        return self.failure

    def _fail(self, failure: LoadtestError) -> str:
        if self.failure is None:
            self.failure = failure
        return failure.sentence

    def target_alive(self) -> str | None:
        """The emulator this run started has exited: "the emulator exited at 6.1 s (killed by signal 9)"."""
        target = self.target
        death = target.death() if target is not None else None
        if target is None or death is None:
            return None
        start = self.runtime.started_at if self.runtime is not None else None
        when = f" at {max(0.0, (target.died_at or time.time()) - start):.1f} s" if start else ""
        return self._fail(TargetFailure(f"the emulator exited{when} ({death})"))

    def key_accepted(self) -> str | None:
        sentence = self.runtime.refusal_sentence() if self.runtime is not None else None
        return None if sentence is None else self._fail(KeyRefused(sentence))

    def target_answering(self) -> str | None:
        if self.runtime is None:
            return None
        reachability = self.runtime.reachability
        silent = reachability.silent_for()
        if silent < self.runtime.scenario.guards.unreachable_after:
            return None
        last = f" (last: {reachability.last_failure})" if reachability.last_failure else ""
        return self._fail(TargetFailure(f"no request got an answer for {silent:.0f} s{last}: the target is down or "
                                        "unreachable"))

    def thresholds_kept(self) -> str | None:
        now = time.monotonic()
        if self.live is None or self.runtime is None or now < self._next_live_check:
            return None
        self._next_live_check = now + LIVE_CHECK_S
        lost = self.live.check(self.runtime.recorder)  # on the merged measurements of every load generator
        return LiveThresholds.stop_reason(lost) if lost is not None else None
