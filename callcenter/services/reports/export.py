"""CSV and XLSX files of a report — what managers open. Both are written from the same
tables as the page (``report.kpi_table`` / ``complaint_table``)."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from callcenter.services.reports.report import Report, complaint_table, kpi_table, summary_lines

RATIO_HEADINGS = {"服务水平", "放弃率", "按期率", "首次解决率", "回访完成率"}


def _is_ratio(heading: str) -> bool:
    return heading in RATIO_HEADINGS or heading.startswith("满意度")


def _safe_text(value: Any) -> Any:
    """A cell that starts like a formula is written as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_value(value: Any, heading: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if _is_ratio(heading) else f"{value:.1f}"
    return _safe_text(value)


def to_csv(report: Report) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese headings as they are."""
    out = io.StringIO()
    writer = csv.writer(out)
    for key, value in summary_lines(report):
        writer.writerow([key, _csv_value(value, key)])
    for header, rows in (kpi_table(report), complaint_table(report)):
        writer.writerow([])
        writer.writerow(header)
        for row in rows:
            writer.writerow([_csv_value(v, h) for v, h in zip(row, header, strict=True)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "话务"
    bold = Font(bold=True)
    sheet.append([report.title])
    sheet["A1"].font = bold
    header, rows = kpi_table(report)
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    for row in rows:
        sheet.append([_safe_text(v) for v in row])
        for cell, heading in zip(sheet[sheet.max_row], header, strict=True):
            if heading in RATIO_HEADINGS and isinstance(cell.value, float):
                cell.number_format = "0.0%"
            elif isinstance(cell.value, float):
                cell.number_format = "0.0"
    sheet.column_dimensions["A"].width = 30

    facts = book.create_sheet("概要")
    for key, value in summary_lines(report):
        facts.append([key, _safe_text(value)])
        if _is_ratio(key) and isinstance(value, float):
            facts.cell(row=facts.max_row, column=2).number_format = "0.0%"
    facts.column_dimensions["A"].width = 20

    complaints = book.create_sheet("投诉")
    header, rows = complaint_table(report)
    complaints.append(header)
    for row in rows:
        complaints.append([_safe_text(v) for v in row])
        cell = complaints.cell(row=complaints.max_row, column=len(header))
        if isinstance(cell.value, float):
            cell.number_format = "0.0%"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
