"""What every file a manager opens in Excel or WPS needs, whichever report writes it.

- Text that starts like a formula (``=``, ``+``, ``-``, ``@``, a tab or CR) is written
  with a leading apostrophe, so a name or label typed into the panel never runs as a
  formula on a manager's machine (CSV/formula injection). Numbers stay numbers, also a
  number already formatted as text (``-0.5``): it carries no formula.
- CSV is UTF-8 with a byte-order mark: without it Excel reads the Chinese headings as
  the local ANSI code page.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?%?")


def safe_text(value: Any) -> Any:
    """``value`` itself, or for text that starts like a formula, the text after an apostrophe."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """The CSV document of ``rows`` (None is an empty cell), BOM first; every cell
    through ``safe_text``."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if value is None else safe_text(value) for value in row])
    return BOM + out.getvalue()


def append_row(sheet: Any, values: Sequence[Any], *, bold: bool = False) -> None:
    """Append ``values`` to an openpyxl worksheet, text made safe; ``bold`` for headings."""
    sheet.append([safe_text(value) for value in values])
    if bold:
        from openpyxl.styles import Font

        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)


def xlsx_bytes(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
