"""The events of a run, in one list: every hook our own code fires and listens to, each with what it means,
who fires it and who listens (the model is Locust's ``locust.event.Events``, whose hooks ours sit beside).

A process's :class:`~loadtest.traffic.runtime.TrafficRuntime` holds one :class:`RunEvents` for its whole life
(every test of a web UI session included). Locust's own events (``test_start``, ``test_stop``,
``report_to_master``, ``worker_report``...) stay Locust's: the drivers listen to them and translate them into
these. What may stop a run early is not an event but a *watcher* the run loop polls
(``loadtest.pipeline.watch``); the sentence a watcher returns reaches everyone as :attr:`RunEvents.stop_requested`.
"""

from __future__ import annotations

from loadtest.listeners import Listeners
from loadtest.queue_api.reachability import Refusal


class RunEvents:
    """The hooks of one process's run; listeners are called in the order they were added."""

    def __init__(self) -> None:
        self.test_started: Listeners[[]] = Listeners()
        """The measured window starts (the recorder's clock has just started): a test of the web UI, the
        run of ``loadtest run``, or a load generator's part of either. Fired by
        ``TrafficRuntime.begin_test``. Listeners: this process's loop-lag ticker and ``/health`` sampler
        (``TrafficRuntime.measure_process``)."""

        self.draining: Listeners[[]] = Listeners()
        """The load's duration is over: no new job is submitted, those in flight are followed (the drain).
        Fired by ``TrafficRuntime.drain``. Listeners: a master, which tells its load generators to drain
        too (``loadtest.traffic.distributed.drive``)."""

        self.stop_requested: Listeners[[str]] = Listeners()
        """Something asked the run to end early, with the reason: the spending guard (``target.max_jobs``), a
        refused key, a watcher's sentence (a dead target, a lost ``abort`` threshold), an interrupt. Fired
        once per reason by ``TrafficRuntime.request_stop`` (the flows are already told to wind down).
        Listeners: a Locust-driven session, which stops Locust's runner (``loadtest.pipeline.locust_session``);
        a load generator, which asks its master to end the whole run (``loadtest.traffic.distributed.loadgen``).
        ``loadtest run``'s own loop sees the stop at its next tick."""

        self.key_refused: Listeners[[Refusal]] = Listeners()
        """The target refused the API key (401/403), with its own words; fired once per test, at the first
        refusal, by the process's ``Reachability``. Listener: the runtime, which ends the run at once (every
        further request would be refused too)."""

        self.test_stopping: Listeners[[]] = Listeners()
        """The users have stopped; before the jobs still open are recorded as unfinished. Fired by
        ``TrafficRuntime.end_test``. Listeners: the loop-lag ticker and the ``/health`` sampler, which stop."""
