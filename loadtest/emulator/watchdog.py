"""Kill the emulator's worker process groups when the emulator dies without doing it itself (SIGKILL, OOM).

Run by :mod:`loadtest.emulator.supervisor` as ``python -I -S watchdog.py`` in its own session, with a pipe
on stdin that only the emulator holds open. The emulator writes ``+PGID`` when it starts a worker and
``-PGID`` once that group is gone. End of input means the emulator is gone: every group still listed is
SIGKILLed (the worker processes get SIGKILL from ``PR_SET_PDEATHSIG`` too, but a worker's own children,
such as the SDK's ping process, would otherwise be orphaned and live on). Standard library only, so it
starts in a few milliseconds and needs nothing from the environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the end of the pipe (or SIGKILL) ends the watch
    groups: set[int] = set()
    for raw in sys.stdin.buffer:
        line = raw.strip()
        try:
            pgid = int(line[1:])
        except ValueError:
            continue
        if line[:1] == b"+":
            groups.add(pgid)
        elif line[:1] == b"-":
            groups.discard(pgid)
    for pgid in groups:
        with contextlib.suppress(OSError):  # already gone
            os.killpg(pgid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
