"""The discovery of one operation's limits: a rate search, then a concurrency search.

Where each piece lives:

- :mod:`~loadtest.discovery.operation`: the settings, and :class:`~loadtest.discovery.operation.OperationTraffic`
  (the operation's requests and what their answers taught about timing), shared by every search;
- :mod:`~loadtest.discovery.rate_search`: the rate search (ramp, cycles, confirm, saturate), sending through
  :mod:`~loadtest.discovery.rate_traffic` (paced stretches, refusals turned into window facts); its cycles
  are :mod:`~loadtest.discovery.window_cycles` (budget, bisection) and
  :mod:`~loadtest.discovery.split_test` (fixed or rolling);
- :mod:`~loadtest.discovery.concurrency_search`: waves of held requests (long-polls only);
- :mod:`~loadtest.discovery.queue_search`: the queue-size rule, exercised on purpose (``/run`` only);
- :mod:`~loadtest.discovery.results`: what each search found.

Requests that create jobs (``/run``, ``/runsync``) are counted against the job cap before they are sent;
every phase checks that the jobs it needs are left, and stops the search with a reason when they are not.
"""

from __future__ import annotations

from loadtest.contract import Op
from loadtest.discovery.concurrency_search import ConcurrencySearch, HoldJob
from loadtest.discovery.operation import Fixtures, OperationTraffic, Settings
from loadtest.discovery.prober import Prober
from loadtest.discovery.rate_search import RateSearch
from loadtest.discovery.results import ConcurrencyResult, RateResult


class OperationSearch:
    """Finds one operation's limits through a :class:`Prober`: :meth:`rate`, then :meth:`concurrency`."""

    def __init__(self, prober: Prober, op: Op, settings: Settings, fixtures: Fixtures) -> None:
        traffic = OperationTraffic(prober, op, settings, fixtures)
        self._rate = RateSearch(traffic)
        self._concurrency = ConcurrencySearch(traffic)
        self.rate_result = self._rate.result
        self.concurrency_result = self._concurrency.result
        """Filled in as the searches go (what they hold when interrupted is what was found)."""
        self.step_done = self._rate.rt.step_done
        """Told of every stretch of traffic the rate search finishes (the progress lines)."""

    def rate(self) -> RateResult:
        """The whole rate search; never raises :class:`~loadtest.discovery.operation.Stop`."""
        return self._rate.run()

    def concurrency(self, rate: RateResult, hold_job: HoldJob) -> ConcurrencyResult:
        """Requests held in flight in waves (long-polls only); never raises
        :class:`~loadtest.discovery.operation.Stop`."""
        return self._concurrency.run(rate, hold_job)
