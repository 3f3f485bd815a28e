"""A daily, weekly or monthly report: the KPI totals, one breakdown, first-contact
resolution, repeat callers and complaints — assembled from ``kpis`` for the page, the
exports and the kept daily summaries alike, so they always show the same numbers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.services.qa import reports as qa_reports
from callcenter.services.reports import kpis
from callcenter.services.setup.periods import PERIOD_LABELS, Period, period_for
from callcenter.services.surveys import report as survey_report
from callcenter.timeutil import to_local

SEVERITY_LABELS = {"ordinary": "一般", "serious": "重大", "": "（未填）"}


@dataclasses.dataclass
class Report:
    period: Period
    by: str
    totals: kpis.KpiRow
    rows: list[kpis.KpiRow]
    fcr: kpis.Resolution
    repeat: kpis.RepeatCallers
    complaints: list[kpis.ComplaintRow]
    rules: kpis.KpiRules
    made_at: dt.datetime
    tz: str
    # Service quality of the period, from the areas that own it (one implementation each).
    surveys: survey_report.CompletionReport | None = None
    satisfaction: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    qa: qa_reports.QaReport | None = None      # weeks and months (QA plans are per week/month)

    @property
    def title(self) -> str:
        return f"{PERIOD_LABELS[self.period.kind]} {self.period.label} · 按{kpis.DIMENSIONS[self.by]}"


def build(session: Session, settings: Settings, kind: str, day: dt.date, by: str = "line",
          now: dt.datetime | None = None) -> Report:
    """The report of the ``kind`` period containing local ``day``, broken down ``by``."""
    period = period_for(kind, day, settings.timezone)
    rules = kpis.KpiRules.from_settings(settings)
    now = now or utcnow()
    rows = kpis.breakdown(session, period.start, period.end, rules, by)
    # Every call is in exactly one row (tested), so the total is their sum: one scan less.
    totals = kpis.KpiRow(key=None, label="合计")
    for row in rows:
        totals.add(row)
    inside = period.start + (period.end - period.start) / 2      # any instant of the period
    return Report(
        period=period, by=by, rules=rules, made_at=now, tz=settings.timezone, totals=totals, rows=rows,
        surveys=survey_report.completion(session, settings, inside, kind),
        satisfaction=survey_report.satisfaction_by_question(session, period.start, period.end),
        qa=qa_reports.build(session, settings, kind, day) if kind in ("week", "month") else None,
        fcr=kpis.first_contact_resolution(session, period.start, period.end, rules),
        repeat=kpis.repeat_callers(session, period.start, period.end),
        complaints=kpis.complaints(session, period.start, period.end, now),
    )


def today(settings: Settings, now: dt.datetime | None = None) -> dt.date:
    return to_local(now or utcnow(), settings.timezone).date()


# --- the tabular form every export uses -------------------------------------------------
KPI_COLUMNS: tuple[tuple[str, str], ...] = (
    ("label", ""), ("offered", "呼入"), ("answered", "接通"), ("abandoned", "放弃"),
    ("short_abandoned", "短时放弃"), ("service_level", "服务水平"), ("abandon_rate", "放弃率"),
    ("asa_s", "平均应答(秒)"), ("aht_s", "平均处理(秒)"), ("longest_wait_s", "最长等待(秒)"),
)
COMPLAINT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("severity", "严重程度"), ("category", "投诉类别"), ("total", "投诉数"), ("closed_on_time", "按期办结"),
    ("closed_late", "超期办结"), ("open_overdue", "超期未结"), ("open_in_time", "处理中未超期"),
    ("compliance", "按期率"),
)


def kpi_table(report: Report) -> tuple[list[str], list[list[Any]]]:
    """Header and rows (numbers as numbers, ratios as fractions) of the breakdown and the total."""
    header = [kpis.DIMENSIONS[report.by]] + [title for key, title in KPI_COLUMNS[1:]]
    rows = []
    for row in [*report.rows, report.totals]:
        values = row.as_dict()
        rows.append([values[key] for key, _ in KPI_COLUMNS])
    return header, rows


def complaint_table(report: Report) -> tuple[list[str], list[list[Any]]]:
    header = [title for _, title in COMPLAINT_COLUMNS]
    rows = [[SEVERITY_LABELS.get(c.severity, c.severity), c.category or "（未分类）", c.total, c.closed_on_time,
             c.closed_late, c.open_overdue, c.open_in_time, c.compliance] for c in report.complaints]
    return header, rows


def quality_lines(report: Report) -> list[tuple[str, Any]]:
    """回访 completion against the 100% target, satisfaction per question, QA averages."""
    lines: list[tuple[str, Any]] = []
    if report.surveys is not None:
        done = report.surveys.total
        lines += [("回访完成率", done.rate if done.owed else None), ("回访应完成/已完成", f"{done.owed}/{done.done}")]
    lines += [(f"满意度 · {q['question']}", q["satisfied_share"]) for q in report.satisfaction]
    if report.qa is not None:
        lines.append(("质检平均分（团队）", report.qa.team.interval.mean))
        lines += [(f"质检平均分 · {row.name}", row.interval.mean) for row in report.qa.agents]
    return lines


def summary_lines(report: Report) -> list[tuple[str, Any]]:
    """The one-number facts under the table (also the first rows of an export)."""
    return [
        ("报表", report.title),
        ("时区", report.tz),
        ("首次解决率", report.fcr.rate),
        ("首次解决(通)", f"{report.fcr.resolved}/{report.fcr.answered}"),
        ("重复来电号码", report.repeat.numbers),
        ("重复来电(通)", report.repeat.calls),
        ("服务水平阈值(秒)", report.rules.service_level_s),
        ("短时放弃阈值(秒)", report.rules.short_abandon_s),
        ("首次解决观察期(天)", report.rules.fcr_days),
        *quality_lines(report),
    ]


def as_json(report: Report) -> dict[str, Any]:
    """Plain data: what the page's chart reads and what a kept daily summary stores."""
    return {
        "title": report.title, "kind": report.period.kind, "label": report.period.label,
        "first_day": report.period.first_day.isoformat(), "by": report.by,
        "totals": report.totals.as_dict(), "rows": [r.as_dict() for r in report.rows],
        "fcr": {"answered": report.fcr.answered, "resolved": report.fcr.resolved, "rate": report.fcr.rate},
        "repeat": {"numbers": report.repeat.numbers, "calls": report.repeat.calls},
        "complaints": [dataclasses.asdict(c) | {"compliance": c.compliance} for c in report.complaints],
    }
