"""Customer import from CSV (UTF-8 with/without BOM, GBK) and XLSX: checking, reporting,
all-or-nothing, re-import, streaming, and the CLI around it."""

from __future__ import annotations

import csv
import shutil
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from callcenter.cli import main
from callcenter.config import get_settings
from callcenter.db import session_scope
from callcenter.models import Customer, CustomerPhone, Tier
from callcenter.services.people import customer_import, customers, phones
from callcenter.services.people.customer_import import ImportFileError, import_customers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "customers"

BROKEN_ROWS = [
    (3, "missing name"),
    (4, "no valid phone (got '12345')"),
    (5, "unknown tier 'gold' (VIP/会员/普通 or vip/member/ordinary)"),
    (6, "important 'maybe' not understood (是/否, yes/no, 1/0)"),
    (7, "duplicate external_ref 'C-1' (first on line 2)"),
    (10, "duplicate of line 9 (same name and phone)"),
    (11, "room longer than 32 characters"),
    (13, "no phone"),
]


def count(db_url, model=Customer) -> int:
    with session_scope(db_url) as session:
        return session.scalar(select(func.count()).select_from(model))


def by_ref(db_url) -> dict[str, Customer]:
    with session_scope(db_url) as session:
        found = session.scalars(select(Customer)).all()
        for customer in found:
            customer.phones                      # load before the session closes
        return {c.external_ref or c.name: c for c in found}


# --- clean files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture, encoding", [("customers_utf8_bom.csv", "utf-8-sig"),
                                               ("customers_gbk.csv", "gb18030")])
def test_chinese_csv_in_either_encoding(db_url, fixture, encoding):
    report = import_customers(db_url, FIXTURES / fixture)
    assert (report.encoding, report.rows, report.created, report.updated, report.errors) == \
        (encoding, 5, 5, 0, [])
    assert report.imported
    found = by_ref(db_url)
    zhang = found["YG-0001"]
    assert (zhang.name, zhang.tier, zhang.important, zhang.area, zhang.unit_address) == \
        ("张伟", Tier.VIP, True, "阳光花园", "3栋-2单元-501")
    assert zhang.address == "北京市朝阳区阳光花园3栋2单元501" and zhang.notes == "喜欢下午来电"
    assert sorted(p.e164 for p in zhang.phones) == ["+861065529988", "+8613800138000"]
    assert found["YG-0002"].tier is Tier.MEMBER and found["YG-0002"].important is False
    assert found["YG-0003"].notes == "老人独居，\r\n来电请耐心"          # a cell spanning two lines
    assert found["YG-0004"].tier is Tier.VIP
    assert found["YG-0005"].tier is Tier.ORDINARY                       # empty tier
    # the household landline belongs to two customers; lookups return both, VIP first
    with session_scope(db_url) as session:
        household = customers.customers_for_number(session, "01065529988")
        assert [c.external_ref for c in household] == ["YG-0001", "YG-0003"]


def test_explicit_encoding_and_a_wrong_one(db_url):
    assert import_customers(db_url, FIXTURES / "customers_gbk.csv", encoding="gbk").created == 5
    with pytest.raises(ImportFileError, match="not valid utf-8 text"):
        import_customers(db_url, FIXTURES / "customers_gbk.csv", encoding="utf-8")
    with pytest.raises(ImportFileError, match="unknown encoding"):
        import_customers(db_url, FIXTURES / "customers_gbk.csv", encoding="klingon")


# --- bad rows ------------------------------------------------------------------------------------

def test_a_file_with_bad_rows_imports_nothing_and_names_every_bad_row(db_url):
    report = import_customers(db_url, FIXTURES / "customers_broken.csv")
    assert not report.imported
    assert [(p.line, p.message) for p in report.errors] == BROKEN_ROWS
    assert (report.rows, report.good_rows) == (12, 4)
    assert [(w.line, w.message) for w in report.warnings] == [
        (1, "column 'colour' ignored (not a customer field)"),
        (8, "ignored invalid phone 'not a phone'"),
    ]
    assert count(db_url) == 0


def test_skip_bad_rows_imports_the_good_ones(db_url):
    report = import_customers(db_url, FIXTURES / "customers_broken.csv", skip_bad_rows=True)
    assert report.imported and (report.created, report.updated) == (4, 0)
    assert [(p.line, p.message) for p in report.errors] == BROKEN_ROWS
    assert sorted(by_ref(db_url)) == ["C-1", "C-12", "C-7", "Sun Li"]
    assert [p.e164 for p in by_ref(db_url)["C-7"].phones] == ["+8613400134000"]


# --- re-import ----------------------------------------------------------------------------------------

def test_reimport_updates_instead_of_duplicating(db_url, tmp_path):
    import_customers(db_url, FIXTURES / "customers_utf8_bom.csv")
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "编号,姓名,电话,等级,备注\n"
        "YG-0001,张伟,13800138000;13811112222,普通,\n"         # tier down, a new phone, notes kept
        "YG-0009,赵敏,13911112222,会员,新客户\n", encoding="utf-8")
    report = import_customers(db_url, changed)
    assert (report.created, report.updated) == (1, 1)
    found = by_ref(db_url)
    zhang = found["YG-0001"]
    assert zhang.tier is Tier.ORDINARY and zhang.notes == "喜欢下午来电" and zhang.area == "阳光花园"
    assert sorted(p.e164 for p in zhang.phones) == ["+861065529988", "+8613800138000", "+8613811112222"]
    assert count(db_url) == 6
    again = import_customers(db_url, changed)
    assert (again.created, again.updated) == (0, 2) and count(db_url) == 6


def test_rows_without_ref_match_by_name_and_phone_and_get_linked_to_a_ref(db_url, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("name,phones,tier\n孙丽,13300133000,member\n孙丽,13300133001,\n", encoding="utf-8")
    assert import_customers(db_url, first).created == 2          # same name, other number: two people
    assert import_customers(db_url, first).updated == 2 and count(db_url) == 2
    linked = tmp_path / "linked.csv"
    linked.write_text("name,phones,external_ref\n孙丽,133 0013 3000,SL-1\n", encoding="utf-8")
    assert import_customers(db_url, linked).updated == 1
    assert by_ref(db_url)["SL-1"].tier is Tier.MEMBER and count(db_url) == 2


# --- XLSX --------------------------------------------------------------------------------------------

def test_xlsx_with_a_title_row_numbers_as_numbers_and_a_second_sheet(db_url, tmp_path):
    path = tmp_path / "客户.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "说明"
    sheet.append(["这一页不是数据"])
    data = book.create_sheet("业主名单")
    data.append(["阳光花园业主名单 2026"])                     # a title above the header
    data.append(["客户编号", "业主姓名", "联系电话", "客户等级", "楼栋", "单元", "房号", "重要客户"])
    data.append(["YG-1", "周杰", 13800138000, "VIP", 3, 2, 501, True])
    data.append(["YG-2", "吴昊", 13900139000.0, "会员", 3, 2, 502.0, None])
    data.append([None, None, None, None, None, None, None, None])
    data.append(["YG-3", "郑凯", "abc", "普通", 3, 2, 503, None])
    book.save(path)

    report = import_customers(db_url, path, sheet="业主名单")
    assert report.encoding == "xlsx" and report.header_line == 2
    assert [(p.line, p.message) for p in report.errors] == [(6, "no valid phone (got 'abc')")]
    assert count(db_url) == 0
    report = import_customers(db_url, path, sheet="业主名单", skip_bad_rows=True)
    found = by_ref(db_url)
    assert (found["YG-1"].important, found["YG-1"].room, found["YG-1"].tier) == (True, "501", Tier.VIP)
    assert [p.e164 for p in found["YG-2"].phones] == ["+8613900139000"] and found["YG-2"].room == "502"
    with pytest.raises(ImportFileError, match="no sheet 'x'"):
        import_customers(db_url, path, sheet="x")
    with pytest.raises(ImportFileError, match="lacks the column"):
        import_customers(db_url, path)                      # the first sheet has no header


# --- unreadable files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("missing.csv", None, "no such file"),
    ("empty.csv", b"", "the file is empty"),
    ("noheader.csv", "姓名,地址\n张三,北京\n".encode(), "lacks the column\\(s\\) phones"),
    ("twice.csv", "name,姓名,phones\n".encode(), "two columns mean name"),
    ("old.xls", b"\xd0\xcf\x11\xe0", "the old .xls format"),
    ("fake.xlsx", b"not a zip", "not a readable .xlsx"),
    ("binary.csv", bytes(range(128, 256)) * 4, "cannot tell the text encoding"),
])
def test_unreadable_files_get_a_clear_error(db_url, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_customers(db_url, path)


def test_tab_separated_export(db_url, tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("姓名\t电话\t等级\n张三\t13800138000\t会员\n", encoding="utf-8")
    assert import_customers(db_url, path).created == 1


# --- large files ----------------------------------------------------------------------------------------

def _big_csv(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_ref", "name", "phones", "tier", "area", "building", "unit", "room", "notes"])
        for n in range(rows):
            # 500 numbers shared round-robin (households): the phone-number cache, which is
            # bounded on its own, stays out of the measurement
            writer.writerow([f"R{n:06d}", f"客户{n}", f"1380{n % 500:07d};010 6{n % 500:07d}",
                             ("VIP", "会员", "普通")[n % 3], "阳光花园", n % 30, n % 6, n % 2000,
                             "业主要求工作日下午联系，周末勿扰" * 3])
    return path


def test_large_file_is_streamed_in_batches_with_bounded_memory(sqlite_url, tmp_path, monkeypatch):
    large = _big_csv(tmp_path / "large.csv", 6_000)
    held_after_batch: list[int] = []
    write_batch = customer_import._write_batch

    def measured(*args):
        write_batch(*args)
        held_after_batch.append(tracemalloc.get_traced_memory()[0])

    monkeypatch.setattr(customer_import, "_write_batch", measured)
    phones._normalize.cache_clear()
    tracemalloc.start()
    try:
        report = import_customers(sqlite_url, large, batch_size=500)
    finally:
        tracemalloc.stop()
    assert (report.created, len(held_after_batch)) == (6_000, 12)
    assert count(sqlite_url) == 6_000 and count(sqlite_url, CustomerPhone) == 12_000
    # Rows are never held beyond their batch: between the 2nd and the last batch, 5,000
    # rows later, what is still allocated grew only by the index of keys seen for the
    # duplicate check — a fraction of what the rows themselves take in the file.
    per_row = (held_after_batch[-1] - held_after_batch[1]) / 5_000
    file_bytes_per_row = large.stat().st_size / 6_000
    assert per_row < 200 < file_bytes_per_row, (held_after_batch, file_bytes_per_row)
    # a re-import of the whole file updates every row in batches and duplicates none
    monkeypatch.setattr(customer_import, "_write_batch", write_batch)
    again = import_customers(sqlite_url, large, batch_size=1_000)
    assert (again.created, again.updated) == (0, 6_000) and count(sqlite_url) == 6_000


# --- the CLI -------------------------------------------------------------------------------------------

@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(main, ["import-customers", *args])
    get_settings.cache_clear()


def test_cli_clean_file(cli, db_url, tmp_path):
    target = tmp_path / "客户名单.csv"
    shutil.copy(FIXTURES / "customers_gbk.csv", target)
    result = cli(str(target))
    assert result.exit_code == 0, result.output
    assert "gb18030" in result.output and "5 customers created" in result.output
    assert count(db_url) == 5


def test_cli_bad_rows_exit_non_zero_and_list_every_line(cli, db_url):
    result = cli(str(FIXTURES / "customers_broken.csv"))
    assert result.exit_code == 1
    for line, message in BROKEN_ROWS:
        assert f"bad row: line {line}: {message}" in result.output
    assert "nothing imported" in result.output and count(db_url) == 0
    skipped = cli(str(FIXTURES / "customers_broken.csv"), "--skip-bad-rows", "--quiet")
    assert skipped.exit_code == 1                    # imported, but the bad rows still count
    assert "4 customers created" in skipped.output and "8 bad rows skipped" in skipped.output
    assert count(db_url) == 4


def test_cli_unreadable_file(cli, tmp_path):
    result = cli(str(tmp_path / "nope.csv"))
    assert result.exit_code == 1 and "no such file" in result.output
