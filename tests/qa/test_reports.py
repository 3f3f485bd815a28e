"""QA reports per agent and team: average, distribution, failed critical items, trend, the
interval, the training note; CSV and XLSX that open as what managers expect."""

from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import load_workbook

from callcenter.db import session_scope
from callcenter.models import Call, User
from callcenter.services.qa import reports, scorecards, scoring

from .conftest import add_call

ALL_YES = {c["key"]: True for c in scorecards.checks(scorecards.DEFAULT_DEFINITION)}
NOV = dt.datetime(2026, 11, 10, 3, 0)
OCT = dt.datetime(2026, 10, 10, 3, 0)


def _scored(settings, users, answers_list, when):
    url = settings.database_url
    for answers in answers_list:
        call_id = add_call(url, agent_id=users["agent"], recording="calls/x.wav", started_at=when)
        with session_scope(url) as s:
            scoring.submit(s, s.get(Call, call_id), s.get(User, users["qa"]), answers)


def test_monthly_report_per_agent_and_team(settings, users):
    _scored(settings, users, [ALL_YES, {**ALL_YES, "greeting": False}, {**ALL_YES, "no_banned": False}], NOV)
    _scored(settings, users, [ALL_YES], OCT)
    with session_scope(settings.database_url) as s:
        report = reports.build(s, settings, "month", dt.date(2026, 11, 20), ci_width=10)
        (row,) = report.agents
        assert row.name == "agent-张" and row.interval.n == 3
        assert round(row.interval.mean, 2) == round((100 + 93.75 + 0) / 3, 2)
        assert row.critical_failures == 1 and row.distribution["<60"] == 1 and row.distribution["90-100"] == 2
        assert row.previous_mean == 100 and row.trend < 0
        assert row.interval.low < row.interval.mean < row.interval.high and row.needed > 0
        assert report.team.interval.n == 3
        assert dict(report.failed_checks) == {"接听问候语含公司名称和姓氏": 1, "未使用服务忌语": 1}
        assert "培训建议" in report.training_note
        assert reports.title(report) == "服务质量综合考评表 2026-11-01 – 2026-11-30"

        rows = list(csv.reader(io.StringIO(reports.to_csv(report).lstrip("\ufeff"))))
        assert rows[1][:3] == ["坐席", "评分通数", "平均分"] and rows[2][0] == "agent-张" and rows[3][0] == "团队合计"
        book = load_workbook(io.BytesIO(reports.to_xlsx(report)))
        sheet = book["考评表"]
        assert sheet["A1"].value.startswith("服务质量综合考评表") and sheet["A3"].value == "agent-张"
        assert sheet["B3"].value == 3 and book["未通过检查项"]["A2"].value in ("接听问候语含公司名称和姓氏", "未使用服务忌语")


def test_weekly_summary_of_an_empty_week(settings, users):
    with session_scope(settings.database_url) as s:
        report = reports.build(s, settings, "week", dt.date(2026, 11, 18))
    assert report.start == dt.date(2026, 11, 16) and report.agents == [] and report.team.interval.n == 0
    assert report.training_note == "本期无未通过的检查项。" and reports.title(report).startswith("质检周报")


def test_the_report_pages_and_exports(settings, users, signed_in):
    _scored(settings, users, [ALL_YES, {**ALL_YES, "greeting": False}], NOV)
    sup = signed_in("supervisor")
    page = sup.get("/qa/reports?period=month&day=2026-11-05").get_data(as_text=True)
    assert "服务质量综合考评表" in page and "agent-张" in page and "96.9" in page
    exported = sup.get("/qa/reports/export.xlsx?period=month&day=2026-11-05")
    assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
    assert load_workbook(io.BytesIO(exported.data))["考评表"]["A3"].value == "agent-张"
    as_csv = sup.get("/qa/reports/export.csv?period=week&day=2026-11-10")
    assert as_csv.status_code == 200 and "质检周报" in as_csv.get_data(as_text=True)
    assert sup.get("/qa/reports?period=year").status_code == 400
    assert signed_in("agent").get("/qa/reports").status_code == 403


def test_exported_text_that_looks_like_a_formula_stays_text(settings, users):
    """An agent's display name (typed by an admin) or a scorecard label that starts like a
    formula must not run as one in Excel/WPS when a manager opens the export: it is
    written with a leading apostrophe, in the CSV and in the XLSX alike."""
    _scored(settings, users, [{**ALL_YES, "greeting": False}], NOV)
    evil = "=HYPERLINK(\"http://example.invalid\",\"点我\")"
    with session_scope(settings.database_url) as s:
        s.get(User, users["agent"]).display_name = evil
    with session_scope(settings.database_url) as s:
        report = reports.build(s, settings, "month", dt.date(2026, 11, 20))
        report.failed_checks = [("-1+1|cmd", 1), *report.failed_checks]
        rows = list(csv.reader(io.StringIO(reports.to_csv(report).lstrip("\ufeff"))))
        book = load_workbook(io.BytesIO(reports.to_xlsx(report)))
    assert rows[2][0] == "'" + evil
    assert ["'-1+1|cmd", "1"] in rows
    assert book["考评表"]["A3"].value == "'" + evil and book["考评表"]["A3"].data_type == "s"
    assert book["未通过检查项"]["A2"].value == "'-1+1|cmd"
    # Numbers stay numbers (a negative trend is not text).
    assert isinstance(book["考评表"]["B3"].value, int)
