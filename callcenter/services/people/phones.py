"""Phone numbers: one canonical form (E.164) for matching callers to customers.

Caller ID is attacker-controlled text. ``normalize`` accepts only what a phone number
can look like (digits, spaces, ``+ - ( ) .``, full-width digits), lets the
``phonenumbers`` library read it in the site's region (CN by default), and returns
E.164 (``+8613800138000``) or ``""`` when the text is not a valid number. It never
raises, so a hostile caller ID can only ever mean "unknown caller".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

# Longest plausible presentation: "+86 (010) 6552-9988" with some extra spacing.
MAX_INPUT_LENGTH = 40

# What channels present when there is no number at all.
NO_NUMBER_WORDS = frozenset({
    "", "anonymous", "unknown", "<unknown>", "unavailable", "restricted", "private",
    "withheld", "none", "null",
})

_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-.]+$")

# Separators people use between several numbers in one spreadsheet cell.
_SEPARATORS = re.compile(r"[;,/、，；|\n]+")


def normalize(raw: str | None, region: str = "CN") -> str:
    """Caller ID or user input → E.164, or "" when it is not a valid number."""
    if raw is None:
        return ""
    return _normalize(str(raw), region.upper())


@lru_cache(maxsize=65536)
def _normalize(raw: str, region: str) -> str:
    text = unicodedata.normalize("NFKC", raw).strip()
    if text.lower() in NO_NUMBER_WORDS or len(text) > MAX_INPUT_LENGTH:
        return ""
    if not _PHONE_CHARS.match(text):
        return ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def split_numbers(cell: str | None) -> list[str]:
    """One spreadsheet cell with several numbers ("138...; 010-6552 9988") → the parts."""
    if not cell:
        return []
    return [part.strip() for part in _SEPARATORS.split(str(cell)) if part.strip()]


def national(e164: str, region: str = "CN") -> str:
    """E.164 → how people in ``region`` write it (138 0013 8000, 010 6552 9988)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (phonenumbers.PhoneNumberFormat.NATIONAL
           if phonenumbers.region_code_for_number(number) == region.upper()
           else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, fmt)


def national_digits(number: str | None, region: str = "CN") -> str:
    """A stored number as the panel shows numbers (how callers present them, digits
    only): +8613800138000 → 13800138000, +861065529988 → 01065529988; a number of
    another country keeps its E.164 form; text that is no number stays as it is."""
    if not number:
        return ""
    e164 = normalize(number, region)
    if not e164:
        return str(number)
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(parsed) != region.upper():
        return e164
    return re.sub(r"\D", "", national(e164, region))
