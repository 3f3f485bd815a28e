"""Phone masking (保密): roles that do not need a customer's number see 138****8000.

The roles that see full numbers are ``settings.unmasked_roles``; everything shown to
anyone else goes through ``phone_for``. Masking keeps the first three and last four
digits (what Chinese service desks print on receipts) and always shows four stars,
so the mask does not reveal the number's length.
"""

from __future__ import annotations

import re

from callcenter.config import Settings

_DIGITS = re.compile(r"\d")
STARS = "****"


def mask_phone(number: str | None) -> str:
    """138 0013 8000 → 138****8000; +8613800138000 → +86 138****8000.

    Internal extensions (four digits or fewer) are not customer data and stay as they
    are; five to seven digits keep one leading and two trailing digits.
    """
    if not number:
        return ""
    text = str(number).strip()
    digits = "".join(_DIGITS.findall(text))
    prefix = ""
    if text.startswith("+86") and len(digits) > 11:
        prefix, digits = "+86 ", digits[2:]
    elif text.startswith("+"):
        prefix = "+"
    if len(digits) <= 4:
        return prefix + digits
    if len(digits) <= 7:
        return f"{prefix}{digits[0]}{STARS}{digits[-2:]}"
    return f"{prefix}{digits[:3]}{STARS}{digits[-4:]}"


def sees_full_numbers(settings: Settings, role: str | None) -> bool:
    return role is not None and str(getattr(role, "value", role)) in settings.unmasked_roles


def phone_for(settings: Settings, role: str | None, number: str | None) -> str:
    """The number as ``role`` may see it."""
    if not number:
        return ""
    return str(number) if sees_full_numbers(settings, role) else mask_phone(number)
