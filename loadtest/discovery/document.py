"""The searches' results as ``limits.json``: each figure with its interval, beside the documented one.

The keys read back (``operations.<op>.rate_limit`` and ``concurrency_limit``) are modelled in
:mod:`loadtest.discovery_document`; everything else here is evidence for a person: the steps offered, the
window facts, Retry-After values, notes. Documented in ``docs/run-directory.md`` and ``docs/limits.md``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.discovery.evidence import RequestRecord, difference
from loadtest.discovery.results import FOUND, ConcurrencyResult, RateResult
from loadtest.discovery_document import FORMAT, KIND, DiscoveryDocument


def _r(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _pair(low: float, high: float, digits: int = 4) -> list[float | None]:
    return [_r(low, digits), _r(high, digits)]


def rate_entry(rate: RateResult) -> dict[str, Any] | None:
    """``rate_limit``: present only when found."""
    if rate.status != FOUND:
        return None
    budget_low, budget_high = rate.budget.interval()
    window = rate.window.interval()
    value = rate.budget.value()
    window_s = window.mid
    per_low, per_high = rate.per_second()
    entry: dict[str, Any] = {
        "value": value, "interval": [budget_low, budget_high],
        "window_s": _r(window_s), "window_interval": _pair(window.low, window.high),
        "per_second": _r(value / window_s), "per_second_interval": _pair(per_low, per_high),
    }
    if rate.kind is not None:
        entry["window_kind"] = rate.kind
    return entry


def rate_search_entry(rate: RateResult) -> dict[str, Any]:
    window = rate.window.interval()
    entry: dict[str, Any] = {"status": rate.status, "cycles": rate.cycles}
    if rate.reason:
        entry["reason"] = rate.reason
    if rate.found:
        low, high = rate.per_second()
        entry["onset_per_s"] = _r(rate.budget.value() / window.mid)
        entry["onset_interval"] = _pair(low, high)
    if rate.no_429_rates:
        entry["no_429_at_per_s"] = _r(max(rate.no_429_rates))
    if rate.throttled_rates:
        entry["429_at_per_s"] = _r(min(rate.throttled_rates))
    if rate.confirmed is not None:
        entry["confirmed"] = rate.confirmed
        entry["confirm_rate_per_s"] = _r(rate.confirm_rate)
    if rate.lower_bound_per_s is not None and rate.status != FOUND:
        entry["lower_bound_per_s"] = _r(rate.lower_bound_per_s)
    entry["window_kind_test"] = rate.kind_reason
    entry["budgets_seen"] = [{"admitted": c.value, "why": c.why} for c in rate.budget.counts]
    entry["window_facts"] = [
        {"side": f.side, "seconds": _r(f.value), "why": f.why, **({"assumes": f.assumption} if f.assumption else {})}
        for f in rate.window.facts
    ]
    if window.dropped:
        entry["assumptions_dropped"] = list(window.dropped)
    return entry


def concurrency_entry(conc: ConcurrencyResult) -> dict[str, Any] | None:
    if conc.status != FOUND:
        return None
    low, high = conc.evidence.interval()
    value = low if high is None else (low + high) / 2
    return {"value": value, "interval": [low, high if high is not None else low]}


def concurrency_search_entry(conc: ConcurrencyResult) -> dict[str, Any]:
    low, high = conc.evidence.interval()
    entry: dict[str, Any] = {"status": conc.status, "held_at_once_max": low, "refused_while_held_min": high,
                             "waves": conc.waves}
    if conc.reason:
        entry["reason"] = conc.reason
    if conc.confirmed is not None:
        entry["confirmed"] = conc.confirmed
    return entry


def documented_entry(op: Op) -> dict[str, Any]:
    operation = OPERATIONS[op]
    rate = None
    if operation.rate_limit is not None:
        rate = {"value": operation.rate_limit, "window_s": contract.RATE_WINDOW_S,
                "per_second": operation.rate_limit / contract.RATE_WINDOW_S}
    return {"rate_limit": rate, "concurrency_limit": operation.concurrency_limit}


def differences(op: Op, rate: RateResult, conc: ConcurrencyResult) -> dict[str, str]:
    """The difference from the documented figures, named."""
    operation = OPERATIONS[op]
    documented_rate = None if operation.rate_limit is None else operation.rate_limit / contract.RATE_WINDOW_S
    out: dict[str, str] = {}
    if rate.found:
        window = rate.window.interval()
        value = rate.budget.value() / window.mid
        out["rate"] = difference(value, documented_rate, "/s", observed_interval=rate.per_second())
        if not math.isclose(window.mid, contract.RATE_WINDOW_S, rel_tol=0.05) and not window.contains(
                contract.RATE_WINDOW_S):
            out["window"] = f"a {window.mid:.3g} s window where the documents say {contract.RATE_WINDOW_S:g} s"
    elif rate.status == "not_reached" and rate.lower_bound_per_s is not None:
        out["rate"] = (f"no limit reached up to {rate.lower_bound_per_s:.3g}/s"
                       + (f" (documented: {documented_rate:g}/s)" if documented_rate is not None else ""))
    else:
        out["rate"] = f"not measured: {rate.reason}" if rate.reason else "not measured"
    if conc.status == FOUND:
        low, high = conc.evidence.interval()
        value = low if high is None else (low + high) / 2
        interval = (float(low), float(high if high is not None else low))
        out["concurrency"] = difference(value, operation.concurrency_limit, " in flight", observed_interval=interval)
    elif conc.status == "not_reached":
        out["concurrency"] = f"no limit reached: {conc.reason}"
    else:
        out["concurrency"] = f"not measured: {conc.reason}" if conc.reason else "not measured"
    return out


def retry_after_entry(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """Retry-After values seen on 429s, and whether waiting that long was enough (the next request admitted)."""
    throttled = [r for r in records if r.throttled]
    seen = Counter(f"{r.retry_after:g}" for r in throttled if r.retry_after is not None)
    checked = honest = 0
    ordered = sorted((r for r in records if not math.isnan(r.sent)), key=lambda r: r.sent)
    for refusal in throttled:
        if refusal.retry_after is None:
            continue
        after = refusal.answered + refusal.retry_after
        following = next((r for r in ordered if r.sent >= after and r.done), None)
        if following is not None and following.status > 0:
            checked += 1
            honest += following.admitted
    return {
        "seen": dict(sorted(seen.items(), key=lambda item: float(item[0]))),
        "without_header": sum(1 for r in throttled if r.retry_after is None),
        "honoured_then_admitted": honest, "honoured_then_checked": checked,
        "named_limits": dict(Counter(r.limit_hint or "unnamed" for r in throttled)),
    }


def operation_entry(op: Op, rate: RateResult, conc: ConcurrencyResult, records: Sequence[RequestRecord],
                    elapsed_s: float, jobs_created: int) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    found_rate = rate_entry(rate)
    if found_rate is not None:
        entry["rate_limit"] = found_rate
    found_conc = concurrency_entry(conc)
    if found_conc is not None:
        entry["concurrency_limit"] = found_conc
    entry["rate_search"] = rate_search_entry(rate)
    entry["concurrency_search"] = concurrency_search_entry(conc)
    entry["documented"] = documented_entry(op)
    entry["differences"] = differences(op, rate, conc)
    entry["retry_after"] = retry_after_entry(records)
    entry["steps"] = [step.as_dict() for step in rate.steps]
    entry["requests"] = len(records)
    entry["jobs_created"] = jobs_created
    entry["elapsed_s"] = round(elapsed_s, 2)
    entry["notes"] = rate.notes + conc.notes
    return entry


def document(header: dict[str, Any], operations: dict[str, dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    """The whole ``limits.json``; checked against the reader's model so what is written can be read back."""
    doc = {"format": FORMAT, "kind": KIND, **header, "operations": operations, **extra}
    DiscoveryDocument.model_validate(doc)
    return doc
