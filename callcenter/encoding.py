"""Text that arrives from the telephone network, decoded without losing the rest.

Caller names are written by carriers and PBXs, and Asterisk passes their bytes on as
it got them: mostly UTF-8, but older equipment in China still sends GBK (王霞 as
``cd f5 cf bc``). A line is decoded on its own: UTF-8, else GB18030 (a superset of
GBK), else UTF-8 with the undecodable bytes replaced, so one odd field costs nothing
but its own characters.
"""

from __future__ import annotations

UTF8, GBK, REPLACED = "utf-8", "gbk", "replaced"


def decode_network_text(raw: bytes) -> tuple[str, str]:
    """``(text, how)``: how is ``utf-8``, ``gbk`` or ``replaced``."""
    try:
        return raw.decode("utf-8"), UTF8
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), GBK
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), REPLACED


SEARCH_TEXT_LIMIT = 64


def clean_search_text(text: str | None, limit: int = SEARCH_TEXT_LIMIT) -> str:
    """What a person typed into a search box, safe to match with: control characters
    (NUL among them: SQLite would end the pattern there and match everything) dropped,
    outer spaces stripped, cut to ``limit``. LIKE wildcards are escaped by the query
    (``contains(..., autoescape=True)``), not here."""
    cleaned = "".join(ch for ch in (text or "") if ch >= " " and ch != "\x7f")
    return cleaned.strip()[:limit]
