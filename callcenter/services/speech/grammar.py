"""A menu's grammar: the phrases a caller may say for each choice, in the model's language.

Vosk takes a grammar as a list of phrases and recognises only their words, which makes a
small model fast and reliable on 8 kHz phone audio. The first phrase of a choice is its
name, the others are synonyms (报修 · 维修 · 坏了); whichever is heard, the choice is the
same. Matching works on words: a caller who says "我要报修" is heard as "报修" by a
grammar that knows no other word.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import zhconv


def normalise(text: str) -> str:
    """Fold what a recogniser or an admin may write differently: traditional characters to
    simplified, spaces (Vosk separates Chinese words with them) and case."""
    return zhconv.convert("".join(text.split()), "zh-hans").lower()


@dataclass(frozen=True)
class Grammar:
    """``choices``: choice (a menu key) → phrases, the first being the choice's name."""

    choices: dict[str, tuple[str, ...]]

    @classmethod
    def from_phrases(cls, phrases: dict[str, list[str] | tuple[str, ...]]) -> Grammar:
        cleaned: dict[str, tuple[str, ...]] = {}
        for choice, words in phrases.items():
            kept = tuple(dict.fromkeys(w.strip() for w in words if w and w.strip()))
            if kept:
                cleaned[str(choice)] = kept
        if not cleaned:
            raise ValueError("a grammar needs at least one phrase")
        return cls(cleaned)

    @property
    def phrases(self) -> list[str]:
        """Every phrase once, in the order written (what Vosk is given)."""
        return list(dict.fromkeys(p for words in self.choices.values() for p in words))

    def vosk_json(self) -> str:
        return json.dumps(self.phrases, ensure_ascii=False)

    def match(self, text: str) -> tuple[str, str] | None:
        """(choice, phrase heard) for a recognised text, None when no choice was said.

        The longest phrase found in the text wins (so "不满意" is not heard as "满意"); two different
        choices heard in one answer ("报修…投诉") are not a choice either.
        """
        heard = normalise(text)
        if not heard:
            return None
        found: list[tuple[int, str, str]] = []
        for choice, words in self.choices.items():
            for phrase in words:
                folded = normalise(phrase)
                if folded and folded in heard:
                    found.append((len(folded), choice, phrase))
        if not found:
            return None
        found.sort(reverse=True)
        _, best_choice, best_phrase = found[0]
        longest = normalise(best_phrase)
        others = {c for _, c, p in found if c != best_choice and normalise(p) not in longest}
        if others:
            return None
        return best_choice, best_phrase
