"""A crash leaves a trace: every long-running process (``serve``, ``agi``, ``ami``, ``web``,
``scheduler``) turns on Python's ``faulthandler`` first thing.

Why: a fatal signal kills the interpreter before any logging can run. Seen on a site:
SQLite's memory-mapped ``-shm`` file made read-only under traffic ended ``callcenter
serve`` with SIGBUS, twice, and not one line said so. With the handler on, such a death
writes "Fatal Python error: Bus error" (or Segmentation fault, Aborted ...) and the
Python stack of every thread to stderr, which systemd's journal keeps; the process then
still dies of the signal, so its service unit restarts it. Forked FastAGI workers
inherit the handler.

SIGUSR1 writes the same stacks without stopping the process, for one that hangs:
``systemctl kill -s SIGUSR1 callcenter-ami`` (then ``journalctl -u callcenter-ami``).
"""

from __future__ import annotations

import faulthandler
import signal
import sys
from typing import TextIO

DUMP_SIGNAL = getattr(signal, "SIGUSR1", None)


def enable_crash_traces() -> bool:
    """Turn on faulthandler (all threads, to stderr) and the SIGUSR1 stack dump.

    A handler already on (``PYTHONFAULTHANDLER=1``, ``-X faulthandler``, a test runner)
    is kept. Returns False when there is no stderr file descriptor to write to (then
    nothing is changed)."""
    stream = _stderr()
    if stream is None:
        return False
    if not faulthandler.is_enabled():
        faulthandler.enable(file=stream, all_threads=True)
    if DUMP_SIGNAL is not None and hasattr(faulthandler, "register"):
        faulthandler.register(DUMP_SIGNAL, file=stream, all_threads=True)
    return True


def _stderr() -> TextIO | None:
    """stderr when it is a real file (under click's test runner it is not: then the
    process's original stderr)."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None and stream.fileno() >= 0:
                return stream
        except (AttributeError, OSError, ValueError):
            continue
    return None
