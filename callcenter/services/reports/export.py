"""CSV and XLSX files of a report — what managers open. Both are written from the same
tables as the page (``report.kpi_table`` / ``complaint_table``); formula-safe text and the
BOM come from ``callcenter.spreadsheets``, as for the QA reports."""

from __future__ import annotations

from typing import Any

from openpyxl import Workbook

from callcenter import spreadsheets
from callcenter.services.reports.report import Report, complaint_table, kpi_table, summary_lines

RATIO_HEADINGS = {"服务水平", "放弃率", "按期率", "首次解决率", "回访完成率"}


def _is_ratio(heading: str) -> bool:
    return heading in RATIO_HEADINGS or heading.startswith("满意度")


def _csv_value(value: Any, heading: str) -> Any:
    if isinstance(value, float):
        return f"{value:.4f}" if _is_ratio(heading) else f"{value:.1f}"
    return value


def to_csv(report: Report) -> bytes:
    lines: list[list[Any]] = [[key, _csv_value(value, key)] for key, value in summary_lines(report)]
    for header, rows in (kpi_table(report), complaint_table(report)):
        lines += [[], header, *[[_csv_value(v, h) for v, h in zip(row, header, strict=True)] for row in rows]]
    return spreadsheets.csv_text(lines).encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "话务"
    spreadsheets.append_row(sheet, [report.title], bold=True)
    header, rows = kpi_table(report)
    spreadsheets.append_row(sheet, header, bold=True)
    for row in rows:
        spreadsheets.append_row(sheet, row)
        for cell, heading in zip(sheet[sheet.max_row], header, strict=True):
            if heading in RATIO_HEADINGS and isinstance(cell.value, float):
                cell.number_format = "0.0%"
            elif isinstance(cell.value, float):
                cell.number_format = "0.0"
    sheet.column_dimensions["A"].width = 30

    facts = book.create_sheet("概要")
    for key, value in summary_lines(report):
        spreadsheets.append_row(facts, [key, value])
        if _is_ratio(key) and isinstance(value, float):
            facts.cell(row=facts.max_row, column=2).number_format = "0.0%"
    facts.column_dimensions["A"].width = 20

    complaints = book.create_sheet("投诉")
    header, rows = complaint_table(report)
    spreadsheets.append_row(complaints, header)
    for row in rows:
        spreadsheets.append_row(complaints, row)
        cell = complaints.cell(row=complaints.max_row, column=len(header))
        if isinstance(cell.value, float):
            cell.number_format = "0.0%"
    return spreadsheets.xlsx_bytes(book)
