"""Reading Asterisk's CDR file (cdr-custom/callcenter.csv, asterisk_conf/cdr_custom.conf)
from where the last reading stopped.

The listener reads it when it (re)connects and at every periodic reconciliation: the
lines of calls that ended while nobody listened on AMI, or while the callcenter was
down, reach ``services.calls.cdr_backfill``. The position is kept in the database
(``cdr_cursors``: the file's inode and the byte offset after the last complete line),
so a restarted listener goes on where its predecessor stopped; a rotated or truncated
file is read from its start.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from callcenter.encoding import decode_network_text

log = logging.getLogger(__name__)

# One reading takes at most this much of the file; the rest waits for the next one.
MAX_READ_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    lines: list[str]
    inode: int
    offset: int          # where the next reading starts


def read_new(path: Path, inode: int, offset: int) -> Chunk | None:
    """The complete lines after ``offset``; None when the file is not there."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if stat.st_ino != inode or stat.st_size < offset:
        offset = 0                              # a new file (rotated) or a truncated one
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(MAX_READ_BYTES)
    end = data.rfind(b"\n")
    if end < 0:
        return Chunk([], stat.st_ino, offset)   # a line still being written
    # Caller names can be GBK like anywhere else on the phone network.
    lines = [decode_network_text(raw)[0] for raw in data[:end].split(b"\n") if raw.strip()]
    return Chunk(lines, stat.st_ino, offset + end + 1)
