"""Shared pytest fixtures.

``emulator_factory``: start real emulator subprocesses (``loadtest.emulator.process.EmulatorProcess``) on
free loopback ports; every one started in a test is stopped after it::

    def test_something(emulator_factory):
        emu = emulator_factory({"id": "ep", "workers_max": 2, "execution_time": "50ms"})
        emu.base_url        # "http://127.0.0.1:PORT/v2"  (RUNPOD_ENDPOINT_BASE_URL)
        emu.endpoint_id     # "ep" (the first endpoint)
        emu.admin_url       # "http://127.0.0.1:PORT/_emulator"
        emu.ground_truth()  # GET /_emulator/ground-truth, parsed (see docs/emulator.md)
        emu.job_records()   # every per-job ground-truth record, all pages
        emu.reset()         # forget jobs and counters

The argument is an ``EndpointConfig``, an ``EmulatorConfig`` or a dict of either (a dict with
``endpoints``/``host``/``port`` is an EmulatorConfig, else one endpoint). Keyword arguments go to
``EmulatorProcess`` (e.g. ``env={...}`` for ``api_key_env``, ``log_level="DEBUG"``).

``module_emulator_factory``: the same, shared by a whole test module (saves the ~0.4 s start per test).

``emulator``: one emulator with a fast default endpoint ``"test"`` (50 ms cold start, 20 ms jobs,
4 workers), for tests that only need something to talk to. Clients must send an Authorization header
(any key is accepted unless the endpoint sets ``api_key_env``).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from loadtest.emulator.process import EmulatorProcess

FAST_ENDPOINT: dict[str, Any] = {
    "id": "test",
    "workers_max": 4,
    "cold_start": "50ms",
    "execution_time": "20ms",
    "idle_timeout": "5s",
}

# Tests drive their processes as a terminal does: Ctrl-C (SIGINT) at its default. A suite started in the
# background of a script (`make test &`) inherits it ignored, and every process a test starts would too.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _factory() -> Iterator[Callable[..., EmulatorProcess]]:
    started: list[EmulatorProcess] = []

    def start(config: Any = None, **kwargs: Any) -> EmulatorProcess:
        process = EmulatorProcess(config, **kwargs)
        started.append(process)
        return process.start()

    yield start
    for process in reversed(started):
        process.stop()


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorProcess]]:
    yield from _factory()


@pytest.fixture(scope="module")
def module_emulator_factory() -> Iterator[Callable[..., EmulatorProcess]]:
    """Like ``emulator_factory``, but the emulators live for the whole test module (call ``reset()``
    between tests that need a clean slate)."""
    yield from _factory()


@pytest.fixture
def emulator(emulator_factory: Callable[..., EmulatorProcess]) -> EmulatorProcess:
    return emulator_factory(dict(FAST_ENDPOINT))
