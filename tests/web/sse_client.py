"""Reading a Server-Sent Events body in tests (the Flask test client or a socket)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


@dataclass
class SSE:
    event: str
    data: object
    id: str | None

    @property
    def json(self):
        return self.data


def parse(chunks: Iterable[bytes | str]) -> Iterator[SSE | str]:
    """Yields SSE events, and comment lines as plain strings (heartbeats)."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    yield line
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
            if "data" in fields:
                yield SSE(fields.get("event", "message"), json.loads(fields["data"]), fields.get("id"))


def read_until(stream: Iterator[SSE | str], predicate: Callable[[SSE], bool], *, limit: int = 200) -> list[SSE]:
    """Events up to and including the first that satisfies ``predicate``; heartbeats
    count against ``limit`` so a missing event fails the test instead of hanging it."""
    seen: list[SSE] = []
    for count, item in enumerate(stream):
        if count >= limit:
            break
        if isinstance(item, str):
            continue
        seen.append(item)
        if predicate(item):
            return seen
    raise AssertionError(f"expected event not received; got {[(e.event, e.data) for e in seen]}")
