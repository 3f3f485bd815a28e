"""服务用语: the rulebook's phrase lists (greeting, polite phrases, farewell, banned phrases,
negative words) as data. The QA scorecard's yes/no checks and the speech checks on
transcripts both read them from here, so an admin's edit reaches both."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

DEFAULTS_FILE = Path(__file__).with_name("service_language.yaml")
LIST_NAMES = ("greetings", "rude_openers", "polite", "farewells", "banned", "negative")


@dataclass(frozen=True)
class PhraseLists:
    greetings: tuple[str, ...] = field(default_factory=tuple)
    rude_openers: tuple[str, ...] = field(default_factory=tuple)
    polite: tuple[str, ...] = field(default_factory=tuple)
    farewells: tuple[str, ...] = field(default_factory=tuple)
    banned: tuple[str, ...] = field(default_factory=tuple)
    negative: tuple[str, ...] = field(default_factory=tuple)


@lru_cache(maxsize=1)
def default_phrase_lists() -> PhraseLists:
    """The lists shipped with the product (service_language.yaml)."""
    data = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8")) or {}
    unknown = set(data) - set(LIST_NAMES)
    if unknown:
        raise ValueError(f"{DEFAULTS_FILE.name}: unknown phrase lists {sorted(unknown)}")
    return PhraseLists(**{name: tuple(str(p).strip() for p in data.get(name) or ()) for name in LIST_NAMES})


def phrase_lists(session: Session) -> PhraseLists:
    """The lists in force at this site: the shipped defaults until an admin edits them."""
    return default_phrase_lists()
