"""Bulk customer import from CSV (UTF-8 with or without BOM, or GBK/GB18030 as Excel
saves it in China) and XLSX.

Columns (header names in English or Chinese, any order, unknown columns ignored with a
warning; only name and phones are required):

| field        | header names accepted                          | value                                  |
|--------------|------------------------------------------------|----------------------------------------|
| name         | name, 姓名, 客户姓名, 业主姓名, 客户名称, 联系人  | required                               |
| phones       | phones, phone, mobile, tel, 电话, 手机, 联系电话 … | one or more, separated by ; , / 、     |
| tier         | tier, level, 等级, 客户等级, 级别                  | VIP/贵宾, 会员/member, 普通/ordinary     |
| area         | area, 小区, 区域, 项目, 楼盘                      |                                        |
| building     | building, 楼栋, 栋, 楼号                         |                                        |
| unit         | unit, 单元                                     |                                        |
| room         | room, 房号, 房间号, 室                          |                                        |
| address      | address, 地址, 详细地址                          |                                        |
| notes        | notes, remark, 备注                             |                                        |
| important    | important, 重要, 重要业户, 重要客户               | 是/否, yes/no, 1/0, true/false          |
| external_ref | external_ref, ref, 编号, 客户编号, 业主编号       | the other system's key, unique         |

Rules:
- Line numbers are those the user sees: the header is line 1 (in a CSV a quoted cell
  with a line break makes a record span lines; the record's first line is reported).
- A row is bad when: the name is missing; no phone in it is valid; the tier or the
  important flag is not understood; a field is too long; it repeats an earlier row
  (same external_ref, or same name and phone). Invalid extra numbers in a row that
  has a valid one are warnings.
- A file with bad rows imports nothing, unless ``skip_bad_rows``: then the good rows
  are imported and the bad ones reported.
- Re-importing updates instead of duplicating: a row with an external_ref updates the
  customer with that ref; a row without one updates the customer (without a ref) that
  has the same name and one of its numbers. Empty cells keep what is stored; numbers
  are added, never removed.
- The file is streamed in batches of ``batch_size`` rows, each batch its own short
  transaction (the FastAGI server keeps writing calls meanwhile); memory does not grow
  with the file. Checking and importing are two passes over the file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from callcenter.db import session_scope
from callcenter.models import Customer, CustomerPhone, Tier
from callcenter.services.people import phones
from callcenter.services.people.customers import FIELD_LIMITS, CustomerError, add_numbers, parse_tier

FIELDS = ("name", "phones", "tier", "area", "building", "unit", "room", "address", "notes",
          "important", "external_ref")
REQUIRED = ("name", "phones")

HEADER_ALIASES = {
    "name": ("name", "customer", "customer name", "姓名", "客户姓名", "业主姓名", "客户名称", "名称",
             "联系人", "客户", "业主"),
    "phones": ("phones", "phone", "phone numbers", "mobile", "tel", "telephone", "电话", "手机",
               "手机号", "手机号码", "联系电话", "电话号码", "号码", "联系方式"),
    "tier": ("tier", "level", "grade", "等级", "客户等级", "级别", "会员等级", "客户类型"),
    "area": ("area", "estate", "community", "小区", "区域", "项目", "楼盘", "片区"),
    "building": ("building", "bldg", "楼栋", "栋", "楼号", "栋号", "楼"),
    "unit": ("unit", "单元", "单元号"),
    "room": ("room", "room no", "房号", "房间号", "房间", "室", "门牌号"),
    "address": ("address", "addr", "地址", "详细地址", "住址"),
    "notes": ("notes", "note", "remark", "remarks", "comment", "备注", "说明"),
    "important": ("important", "vip flag", "重要", "重要业户", "重要客户", "是否重要"),
    "external_ref": ("external_ref", "external ref", "external id", "ref", "reference", "编号",
                     "客户编号", "业主编号", "外部编号", "档案号"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}

TRUE_WORDS = {"1", "y", "yes", "true", "是", "重要", "√", "✓", "x"}
FALSE_WORDS = {"", "0", "n", "no", "false", "否", "不是", "×", "-"}

HEADER_SEARCH_ROWS = 5        # a title row or two above the header is common in Excel files
DEFAULT_BATCH = 500


class ImportFileError(ValueError):
    """The file cannot be read at all (missing, unknown format, no usable header)."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    path: str
    encoding: str                  # "xlsx" for a workbook
    header_line: int = 1
    rows: int = 0                  # data rows read (blank rows not counted)
    created: int = 0
    updated: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    imported: bool = False         # False: nothing written (bad rows, no --skip-bad-rows)

    @property
    def good_rows(self) -> int:
        return self.rows - len(self.errors)


@dataclass(frozen=True)
class CustomerRow:
    """One checked row, ready to write."""

    line: int
    name: str
    numbers: tuple[tuple[str, str], ...]     # (e164, raw)
    tier: Tier | None                        # None: cell empty (new customers get ordinary)
    important: bool | None                   # None: cell empty
    values: dict                             # area, building, ... (non-empty cells only)
    external_ref: str | None


Progress = Callable[[str, int, int], None]   # (phase, done, total) — units are the reader's


# --- reading -----------------------------------------------------------------------------


class _CountingReader(io.RawIOBase):
    """Counts the bytes the CSV reader consumed, for a progress bar over the file size."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self.count += n or 0
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class SheetReader:
    """Rows of a CSV or XLSX file as (line number, list of cell strings)."""

    def __init__(self, path: Path, encoding: str | None = None, sheet: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ImportFileError(f"{self.path}: no such file")
        self.kind = _file_kind(self.path)
        if self.kind == "xlsx":
            self.encoding = "xlsx"
        else:
            self.encoding = _check_encoding(self.path, encoding) if encoding else detect_encoding(self.path)
        self.sheet = sheet
        self.total = self.path.stat().st_size if self.kind == "csv" else 0
        self.position = 0

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        return self._csv_rows() if self.kind == "csv" else self._xlsx_rows()

    def _csv_rows(self) -> Iterator[tuple[int, list[str]]]:
        counter = _CountingReader(open(self.path, "rb", buffering=0))
        text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding=self.encoding, newline="")
        try:
            first = text.readline()
            delimiter = _delimiter(first)
            reader = csv.reader(_chain_first(first, text), delimiter=delimiter)
            previous_end = 0
            for cells in reader:
                start, previous_end = previous_end + 1, reader.line_num
                self.position = counter.count
                yield start, [c.strip() for c in cells]
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{self.path}: not valid {self.encoding} text ({exc.reason} near byte "
                                  f"{exc.start}); pass --encoding") from None
        except csv.Error as exc:
            raise ImportFileError(f"{self.path}: line {reader.line_num}: {exc}") from None
        finally:
            text.close()

    def _xlsx_rows(self) -> Iterator[tuple[int, list[str]]]:
        import zipfile

        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
            raise ImportFileError(f"{self.path}: not a readable .xlsx workbook ({exc})") from None
        try:
            if self.sheet is not None:
                if self.sheet not in book.sheetnames:
                    raise ImportFileError(f"{self.path}: no sheet {self.sheet!r} (sheets: "
                                          f"{', '.join(book.sheetnames)})")
                sheet = book[self.sheet]
            else:
                sheet = book.worksheets[0]
            self.total = sheet.max_row or 0
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                self.position = number
                yield number, [_cell_text(v) for v in values]
        finally:
            book.close()


def _chain_first(first: str, rest) -> Iterator[str]:
    yield first
    yield from rest


def _file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".xls":
        raise ImportFileError(f"{path}: the old .xls format is not supported; save it as .xlsx or CSV")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    return "xlsx" if magic == b"PK\x03\x04" else "csv"


def detect_encoding(path: Path) -> str:
    """utf-8-sig (BOM), utf-16 (BOM), utf-8, else gb18030 (a superset of GBK)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for candidate in ("utf-8", "gb18030"):
        if _decodes(path, candidate):
            return candidate
    raise ImportFileError(f"{path}: cannot tell the text encoding (neither UTF-8 nor GBK); "
                          "save it as CSV UTF-8 or pass --encoding")


def _check_encoding(path: Path, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ImportFileError(f"unknown encoding {encoding!r}") from None
    return encoding


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "，")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))           # 13800138000 stored as a number in Excel
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


# --- checking -------------------------------------------------------------------------------


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-*（）()]+", " ", text.strip().lower()).strip()


def map_header(cells: list[str]) -> tuple[dict[str, int], list[str]]:
    """Header cells → ({field: column index}, [ignored header names]); raises on a
    column named twice."""
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        if not cell:
            continue
        key = _header_key(cell)
        name = _ALIAS_TO_FIELD.get(key) or _ALIAS_TO_FIELD.get(key.replace(" ", "_")) \
            or _ALIAS_TO_FIELD.get(key.replace(" ", ""))
        if name is None:
            ignored.append(cell)
            continue
        if name in columns:
            raise ImportFileError(f"two columns mean {name}: {cells[columns[name]]!r} and {cell!r}")
        columns[name] = index
    return columns, ignored


class RowChecker:
    """Validates rows one by one and remembers what it saw, to catch repeats in the file."""

    def __init__(self, columns: dict[str, int], region: str) -> None:
        self.columns = columns
        self.region = region
        # Keys already seen → their line. Stored as 64-bit digests: the only memory that
        # grows with the file (~100 bytes a key), whatever the rows hold.
        self._refs: dict[int, int] = {}
        self._name_numbers: dict[int, int] = {}

    def check(self, line: int, cells: list[str]) -> tuple[CustomerRow | None, str | None, list[str]]:
        """(row, None, warnings) when good, (None, reason, warnings) when bad."""
        def cell(name: str) -> str:
            index = self.columns.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        warnings: list[str] = []
        name = re.sub(r"\s+", " ", cell("name"))
        if not name:
            return None, "missing name", warnings
        raw_numbers = phones.split_numbers(cell("phones"))
        numbers: list[tuple[str, str]] = []
        seen: set[str] = set()
        for raw in raw_numbers:
            e164 = phones.normalize(raw, self.region)
            if not e164:
                warnings.append(f"ignored invalid phone {raw!r}")
            elif e164 not in seen:
                seen.add(e164)
                numbers.append((e164, raw))
        if not numbers:
            got = cell("phones")
            return None, (f"no valid phone (got {got!r})" if got else "no phone"), []
        try:
            tier = parse_tier(cell("tier"), default=None)
        except CustomerError as exc:
            return None, str(exc), warnings
        important_text = cell("important").lower()
        if important_text in TRUE_WORDS:
            important = True
        elif important_text in FALSE_WORDS:
            important = None if not important_text else False
        else:
            return None, f"important {cell('important')!r} not understood (是/否, yes/no, 1/0)", warnings
        values = {key: cell(key) for key in ("area", "building", "unit", "room", "address", "notes")
                  if cell(key)}
        external_ref = cell("external_ref") or None
        for key, value in dict(values, name=name, external_ref=external_ref or "").items():
            limit = FIELD_LIMITS.get(key)
            if limit and len(value) > limit:
                return None, f"{key} longer than {limit} characters", warnings
        if external_ref is not None:
            key = _digest(external_ref)
            first = self._refs.get(key)
            if first is not None:
                return None, f"duplicate external_ref {external_ref!r} (first on line {first})", warnings
            self._refs[key] = line
        else:
            keys = [_digest(name, e164) for e164, _raw in numbers]
            for key in keys:
                first = self._name_numbers.get(key)
                if first is not None:
                    return None, f"duplicate of line {first} (same name and phone)", warnings
            for key in keys:
                self._name_numbers[key] = line
        return CustomerRow(line=line, name=name, numbers=tuple(numbers), tier=tier, important=important,
                           values=values, external_ref=external_ref), None, warnings


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest(), "big")


# --- the import -------------------------------------------------------------------------------


def import_customers(database_url: str, path: str | Path, *, region: str = "CN",
                     encoding: str | None = None, sheet: str | None = None, skip_bad_rows: bool = False,
                     batch_size: int = DEFAULT_BATCH, progress: Progress | None = None) -> ImportReport:
    """Check the whole file, then (when it is clean, or ``skip_bad_rows``) import it in
    batches, each committed on its own. See the module docstring for the rules."""
    reader = SheetReader(Path(path), encoding, sheet)
    report = ImportReport(path=str(path), encoding=reader.encoding)

    if not skip_bad_rows:
        _scan(reader, region, report, progress, on_row=None)
        if report.errors:
            return report
        report.rows, report.warnings = 0, []
    batch: list[CustomerRow] = []

    def write(row: CustomerRow) -> None:
        batch.append(row)
        if len(batch) >= batch_size:
            _write_batch(database_url, batch, report)
            batch.clear()

    _scan(reader, region, report, progress, on_row=write)
    if batch:
        _write_batch(database_url, batch, report)
    report.imported = True
    return report


def _scan(reader: SheetReader, region: str, report: ImportReport, progress: Progress | None,
          on_row: Callable[[CustomerRow], None] | None) -> None:
    phase = "importing" if on_row is not None else "checking"
    report.errors = []
    rows = reader.rows()
    columns = _find_header(rows, report)
    checker = RowChecker(columns, region)
    reported = 0
    for line, cells in rows:
        if not any(cells):
            continue
        report.rows += 1
        row, reason, warnings = checker.check(line, cells)
        report.warnings.extend(RowProblem(line, w) for w in warnings)
        if reason is not None:
            report.errors.append(RowProblem(line, reason))
        elif on_row is not None:
            on_row(row)
        if progress is not None and report.rows - reported >= 200:
            reported = report.rows
            progress(phase, reader.position, reader.total)
    if progress is not None:
        progress(phase, reader.total or reader.position, reader.total or reader.position)


def _find_header(rows: Iterator[tuple[int, list[str]]], report: ImportReport) -> dict[str, int]:
    looked = 0
    for line, cells in rows:
        if not any(cells):
            continue
        columns, ignored = map_header(cells)
        if all(name in columns for name in REQUIRED):
            report.header_line = line
            for name in ignored:
                report.warnings.append(RowProblem(line, f"column {name!r} ignored (not a customer field)"))
            return columns
        looked += 1
        if looked >= HEADER_SEARCH_ROWS or columns:
            missing = [n for n in REQUIRED if n not in columns]
            raise ImportFileError(
                f"{report.path}: line {line}: the header lacks the column(s) {', '.join(missing)} "
                f"(e.g. 姓名/name and 电话/phones); found {[c for c in cells if c]}")
    if looked:
        raise ImportFileError(f"{report.path}: no header row: it lacks the columns name and phones "
                              "(e.g. 姓名/name and 电话/phones)")
    raise ImportFileError(f"{report.path}: no header row (the file is empty)")


def _write_batch(database_url: str, batch: list[CustomerRow], report: ImportReport) -> None:
    with session_scope(database_url) as session:
        by_ref = _existing_by_ref(session, [r.external_ref for r in batch if r.external_ref])
        # A row with a ref that matches nobody may still be a customer imported
        # earlier without one (same name and number): it gets linked to the ref.
        by_name_number = _existing_by_name_number(
            session, [e164 for r in batch if r.external_ref not in by_ref for e164, _ in r.numbers])
        new_rows: list[CustomerRow] = []
        for row in batch:
            customer = by_ref.get(row.external_ref) if row.external_ref else None
            if customer is None:
                customer = next((by_name_number[(row.name, e164)] for e164, _ in row.numbers
                                 if (row.name, e164) in by_name_number), None)
            if customer is None:
                new_rows.append(row)
            else:
                _apply(customer, row)
                report.updated += 1
        session.flush()
        _insert_new(session, new_rows)
        report.created += len(new_rows)


def _insert_new(session: Session, rows: list[CustomerRow]) -> None:
    """New customers and their numbers in two multi-row INSERTs (the ORM unit of work
    costs ~10x more per object, and an import may bring 100k of them)."""
    if not rows:
        return
    blank = dict.fromkeys(("area", "building", "unit", "room", "address", "notes"), "")
    ids = session.execute(
        insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
        [dict(blank, **row.values, name=row.name, tier=row.tier or Tier.ORDINARY,
              important=bool(row.important), external_ref=row.external_ref) for row in rows],
    ).scalars().all()
    session.execute(insert(CustomerPhone), [
        dict(customer_id=customer_id, e164=e164, raw=raw[:64], label="")
        for customer_id, row in zip(ids, rows) for e164, raw in row.numbers
    ])


def _apply(customer: Customer, row: CustomerRow) -> None:
    customer.name = row.name
    if row.tier is not None:
        customer.tier = row.tier
    if row.important is not None:
        customer.important = row.important
    if row.external_ref and not customer.external_ref:
        customer.external_ref = row.external_ref
    for key, value in row.values.items():
        setattr(customer, key, value)
    add_numbers(customer, row.numbers)


def _existing_by_ref(session: Session, refs: list[str]) -> dict[str, Customer]:
    if not refs:
        return {}
    found = session.scalars(select(Customer).where(Customer.external_ref.in_(refs))
                            .options(selectinload(Customer.phones)))
    return {c.external_ref: c for c in found}


def _existing_by_name_number(session: Session, numbers: list[str]) -> dict[tuple[str, str], Customer]:
    """(name, e164) → the oldest customer without an external_ref having that pair."""
    if not numbers:
        return {}
    rows = session.execute(
        select(CustomerPhone.e164, Customer).join(Customer, Customer.id == CustomerPhone.customer_id)
        .where(CustomerPhone.e164.in_(sorted(set(numbers))), Customer.external_ref.is_(None))
        .order_by(Customer.id).options(selectinload(Customer.phones))
    ).all()
    found: dict[tuple[str, str], Customer] = {}
    for e164, customer in rows:
        found.setdefault((customer.name, e164), customer)
    return found
