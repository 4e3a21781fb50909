"""What may stop a run early, and why it did: the watchers the run loop calls every tick.

Each watcher returns ``None`` while the run may go on, or a sentence; the first sentence stops the run.
Those that mean the run could not measure what it set out to (a dead target, a refused key, a target
that stopped answering) are kept as :attr:`RunWatch.failure` with the exit code they earn, so the
pipeline reports them and never passes the run. A lost ``abort`` threshold stops the run too, but is a
verdict, not a failure.
"""

from __future__ import annotations

import time

from loadtest import exitcodes
from loadtest.check.live import LiveThresholds
from loadtest.pipeline.finished import RunFailure
from loadtest.pipeline.target import Target
from loadtest.traffic.outcome import Watcher
from loadtest.traffic.runtime import TrafficRuntime

LIVE_CHECK_S = 2.0
"""How often thresholds marked ``abort`` are judged on the live recorder (``loadtest.check.live``)."""


class RunWatch:
    """The watchers of one run over its target and its runtime; the first failure they saw."""

    def __init__(self, runtime: TrafficRuntime, target: Target | None) -> None:
        self.runtime = runtime
        self.target = target
        self.failure: RunFailure | None = None
        self.live = LiveThresholds.from_scenario(runtime.scenario)
        self._next_live_check = time.monotonic() + LIVE_CHECK_S

    def watchers(self) -> list[Watcher]:
        found: list[Watcher] = [self.target_alive, self.key_accepted, self.target_answering]
        if self.live is not None:
            found.append(self.thresholds_kept)
        return found

    def check(self) -> str | None:
        """Every watcher once (for loops that are not the run loop's: a web UI session)."""
        for watcher in self.watchers():
            reason = watcher()
            if reason is not None:
                return reason
        return None

    def settle(self) -> RunFailure | None:
        """After the run loop: look once more (a key refused or a target dying between two ticks, or a stop
        requested by the runtime itself, is still a failure of the run)."""
        for watcher in (self.target_alive, self.key_accepted, self.target_answering):
            if watcher() is not None:
                break
        return self.failure

    def _fail(self, sentence: str, exit_code: int) -> str:
        if self.failure is None:
            self.failure = RunFailure(sentence, exit_code)
        return sentence

    def target_alive(self) -> str | None:
        """The emulator this run started has exited: "the emulator exited at 6.1 s (killed by signal 9)"."""
        death = self.target.death() if self.target is not None else None
        if death is None:
            return None
        assert self.target is not None
        start = self.runtime.started_at
        when = f" at {max(0.0, (self.target.died_at or time.time()) - start):.1f} s" if start else ""
        return self._fail(f"the emulator exited{when} ({death})", exitcodes.TARGET_ERROR)

    def key_accepted(self) -> str | None:
        sentence = self.runtime.refusal_sentence()
        return None if sentence is None else self._fail(sentence, exitcodes.KEY_REFUSED)

    def target_answering(self) -> str | None:
        reachability = self.runtime.reachability
        limit = self.runtime.scenario.guards.unreachable_after
        silent = reachability.silent_for()
        if silent < limit:
            return None
        last = f" (last: {reachability.last_failure})" if reachability.last_failure else ""
        return self._fail(f"no request got an answer for {silent:.0f} s{last}: the target is down or unreachable",
                          exitcodes.TARGET_ERROR)

    def thresholds_kept(self) -> str | None:
        now = time.monotonic()
        if self.live is None or now < self._next_live_check:
            return None
        self._next_live_check = now + LIVE_CHECK_S
        lost = self.live.check(self.runtime.recorder)  # on the merged measurements of every worker, in a master
        return LiveThresholds.stop_reason(lost) if lost is not None else None
