"""The report page, its chart data and its CSV/XLSX exports show the same numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from html import unescape

import openpyxl

from callcenter.db import session_scope
from callcenter.models import Call, CallStatus
from callcenter.timeutil import to_utc_naive

TZ = "Asia/Shanghai"


def _report_data(html: str) -> dict:
    """The JSON the chart reads, from the canvas's data attribute (no inline script: CSP)."""
    return json.loads(unescape(re.search(r'data-report="([^"]*)"', html).group(1)))


def _calls(url: str, agent_id: int) -> None:
    def at(text):
        return to_utc_naive(dt.datetime.fromisoformat(text), TZ)

    with session_scope(url) as s:
        for i, (start, status, wait, talk) in enumerate([
            ("2026-11-10 09:00:00", CallStatus.COMPLETED, 10, 100),
            ("2026-11-10 09:30:00", CallStatus.COMPLETED, 40, 200),
            ("2026-11-10 10:00:00", CallStatus.ABANDONED, 30, None),
            ("2026-11-10 10:05:00", CallStatus.ABANDONED, 1, None),
            ("2026-11-11 10:05:00", CallStatus.ABANDONED, 30, None),     # the next day
        ]):
            answered = status is CallStatus.COMPLETED
            s.add(Call(uniqueid=f"u{i}", linkedid=f"u{i}", caller_e164=f"+86138000000{i:02d}", status=status,
                       started_at=at(start), queue="general_q", wait_seconds=wait, talk_seconds=talk,
                       answered_at=at(start) if answered else None,
                       answered_by_user_id=agent_id if answered else None))


def test_day_report_page_and_exports_agree(client, auth, users, settings):
    _calls(settings.database_url, users["agent"])
    auth.login("supervisor")
    page = client.get("/supervisor/reports?kind=day&day=2026-11-10&by=agent")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    data = _report_data(html)
    assert (data["totals"]["offered"], data["totals"]["answered"], data["totals"]["abandoned"],
            data["totals"]["short_abandoned"]) == (4, 2, 1, 1)
    assert data["totals"]["service_level"] == 1 / 3
    assert "chart.umd.min.js" in html and 'id="report-chart"' in html
    agent_row = next(r for r in data["rows"] if r["key"] == users["agent"])
    assert agent_row["answered"] == 2 and agent_row["aht_s"] == (100 + 200 + 2 * settings.ami_wrapup_s) / 2

    xlsx = client.get("/supervisor/reports/export.xlsx?kind=day&day=2026-11-10&by=agent")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data))["话务"]
    table = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
    header, total = table[0], table[-1]
    assert header[:4] == ["坐席", "呼入", "接通", "放弃"]
    assert total[:5] == ["合计", 4, 2, 1, 1]
    assert abs(total[5] - 1 / 3) < 1e-9

    text = client.get("/supervisor/reports/export.csv?kind=day&day=2026-11-10&by=agent").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert ["合计", "4", "2", "1", "1", "0.3333", "0.3333"] == rows[rows.index(header[:1] + [
        str(h) for h in header[1:]]) + len(table) - 1][:7]


def test_week_and_month_include_the_next_day(client, auth, users, settings):
    _calls(settings.database_url, users["agent"])
    auth.login("admin")
    for kind in ("week", "month"):
        html = client.get(f"/supervisor/reports?kind={kind}&day=2026-11-10").get_data(as_text=True)
        data = _report_data(html)
        assert data["totals"]["offered"] == 5, kind


def test_a_wrong_period_or_date_is_a_clear_400(client, auth, users):
    auth.login("supervisor")
    bad = client.get("/supervisor/reports?kind=year")
    assert bad.status_code == 400 and "day（日）" in bad.get_data(as_text=True)
    assert client.get("/supervisor/reports?day=2026-13-01").status_code == 400
    assert client.get("/supervisor/reports?by=colour").status_code == 400
    assert client.get("/supervisor/reports/export.pdf").status_code == 404


def test_service_quality_from_surveys_in_the_report(client, auth, users, settings):
    from callcenter.models import SurveyAttempt, SurveyRequest, SurveyStatus, Ticket, TicketType

    def at(text):
        return to_utc_naive(dt.datetime.fromisoformat(text), TZ)

    with session_scope(settings.database_url) as s:
        for n, status in ((1, SurveyStatus.DONE), (2, SurveyStatus.PENDING)):
            ticket = Ticket(number=f"GD-R{n}", type=TicketType.REPAIR, owner_id=users["agent"], subject="s")
            s.add(ticket)
            s.flush()
            survey = SurveyRequest(ticket_id=ticket.id, number="+8613800000001", due_at=at("2026-11-09 10:00:00"),
                                   deadline_at=at("2026-11-10 20:00:00"), status=status,
                                   completed_at=at("2026-11-10 11:00:00") if n == 1 else None)
            s.add(survey)
            s.flush()
            if n == 1:
                s.add(SurveyAttempt(survey_id=survey.id, number="+8613800000001", satisfaction="满意",
                                    answers={"q_service": 1}, finished_at=at("2026-11-10 11:00:00")))
    auth.login("supervisor")
    html = client.get("/supervisor/reports?kind=day&day=2026-11-10").get_data(as_text=True)
    quality = re.search(r'id="quality">(.*?)</section>', html, re.DOTALL).group(1)
    assert re.search(r"<td>回访完成率</td><td>50.0%</td>", quality)
    assert re.search(r"<td>回访应完成/已完成</td><td>2/1</td>", quality)
    assert re.search(r"<td>满意度 · q_service</td><td>100.0%</td>", quality)
    assert "质检平均分按周、按月统计" in quality
    week = client.get("/supervisor/reports?kind=week&day=2026-11-10").get_data(as_text=True)
    assert "质检平均分（团队）" in week
