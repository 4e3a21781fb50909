"""The flow kinds of a scenario's mix, stated once: what each calls, submits, streams and holds open.

The scenario model (one pydantic class per kind, for its settings), the figure catalogue (which kinds
produce which figures), the traffic side (which kinds long-poll, so sockets must outwait them) and the
reports all read this table; adding a kind is one row here, its settings class and its runner.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.contract import Op


@dataclass(frozen=True, slots=True)
class FlowKind:
    """One kind of flow: the operations it calls and what its traffic does."""

    name: str
    operations: tuple[Op, ...]
    """Every operation the flow may call, the submitting one first."""
    submits: Op | None
    """The operation that creates its job (``None``: the flow creates no job)."""
    streams: bool = False
    """It reads ``/stream`` chunks (first-chunk and chunk-gap figures)."""
    long_polls: bool = False
    """Some of its calls ask the target to hold the request (``?wait=``): sockets must outwait them."""

    @property
    def creates_jobs(self) -> bool:
        return self.submits is not None


FLOW_KIND_TABLE: tuple[FlowKind, ...] = (
    FlowKind("run_poll", (Op.RUN, Op.STATUS), submits=Op.RUN),
    FlowKind("runsync", (Op.RUNSYNC, Op.STATUS), submits=Op.RUNSYNC, long_polls=True),
    FlowKind("run_stream", (Op.RUN, Op.STREAM), submits=Op.RUN, streams=True, long_polls=True),
    FlowKind("run_cancel", (Op.RUN, Op.CANCEL, Op.STATUS), submits=Op.RUN),
    FlowKind("retry_failed", (Op.RUN, Op.STATUS, Op.RETRY), submits=Op.RUN),
    FlowKind("status_sync", (Op.RUN, Op.STATUS_SYNC), submits=Op.RUN, long_polls=True),
    FlowKind("health", (Op.HEALTH,), submits=None),
    FlowKind("purge_queue", (Op.PURGE_QUEUE,), submits=None),
)

FLOW_KINDS: dict[str, FlowKind] = {kind.name: kind for kind in FLOW_KIND_TABLE}
"""Every flow kind by name, in the order the documentation lists them."""
KIND_NAMES: tuple[str, ...] = tuple(FLOW_KINDS)
JOB_KINDS: frozenset[str] = frozenset(k.name for k in FLOW_KIND_TABLE if k.creates_jobs)
"""Kinds that submit jobs and so produce job-level figures."""
STREAM_KINDS: frozenset[str] = frozenset(k.name for k in FLOW_KIND_TABLE if k.streams)
