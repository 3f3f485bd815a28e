"""QA reports per agent and for the team, per week or month: average, distribution,
failed critical items, trend against the previous period, the 95% interval of each
average, and the checks most often failed (the weekly summary's training note). Exported
as CSV and XLSX (服务质量综合考评表).

A call counts in the period it was taken, with its newest score version.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from callcenter import spreadsheets
from callcenter.config import Settings
from callcenter.models import Call, QaScore, User
from callcenter.services.qa import scorecards
from callcenter.services.qa.draws import period_bounds, utc_range
from callcenter.services.qa.sampling import Interval, confidence_interval, samples_needed

BUCKETS = ((90, "90-100"), (80, "80-89"), (70, "70-79"), (60, "60-69"), (0, "<60"))
PERIOD_WORDS = {"week": "周", "month": "月"}


@dataclass
class AgentRow:
    agent_id: int | None
    name: str
    scores: list[float]
    previous_mean: float | None
    critical_failures: int
    interval: Interval
    distribution: dict[str, int]
    needed: int | None = None

    @property
    def trend(self) -> float | None:
        if self.interval.mean is None or self.previous_mean is None:
            return None
        return self.interval.mean - self.previous_mean


@dataclass
class QaReport:
    period: str
    start: dt.date
    end: dt.date
    agents: list[AgentRow]
    team: AgentRow
    failed_checks: list[tuple[str, int]] = field(default_factory=list)
    ci_width: float | None = None

    @property
    def training_note(self) -> str:
        if not self.failed_checks:
            return "本期无未通过的检查项。"
        top = "、".join(f"{name}（{n} 次）" for name, n in self.failed_checks[:3])
        return f"培训建议：重点培训 {top}。"


def _newest_scores(session: Session, since: dt.datetime, until: dt.datetime) -> list[QaScore]:
    newest = (select(QaScore.call_id, func.max(QaScore.version).label("v"))
              .join(Call, Call.id == QaScore.call_id)
              .where(Call.started_at >= since, Call.started_at < until).group_by(QaScore.call_id).subquery())
    return list(session.scalars(select(QaScore).join(
        newest, and_(newest.c.call_id == QaScore.call_id, newest.c.v == QaScore.version))))


def _row(agent_id, name, scores: list[QaScore], previous: list[QaScore], width: float | None) -> AgentRow:
    totals = [s.total for s in scores]
    dist = dict.fromkeys((label for _, label in BUCKETS), 0)
    for t in totals:
        dist[next(label for floor, label in BUCKETS if t >= floor)] += 1
    prev = [s.total for s in previous]
    return AgentRow(agent_id, name, totals, sum(prev) / len(prev) if prev else None,
                    sum(1 for s in scores if s.critical_failed), confidence_interval(totals), dist,
                    max(0, samples_needed(totals, width) - len(totals)) if width else None)


def build(session: Session, settings: Settings, period: str, day: dt.date, *,
          ci_width: float | None = None) -> QaReport:
    start, end = period_bounds(period, day)
    prev_start, _ = period_bounds(period, start - dt.timedelta(days=1))
    current = _newest_scores(session, *utc_range(settings, start, end))
    previous = _newest_scores(session, *utc_range(settings, prev_start, start))
    by_agent, prev_by_agent = defaultdict(list), defaultdict(list)
    for s in current:
        by_agent[s.agent_id].append(s)
    for s in previous:
        prev_by_agent[s.agent_id].append(s)
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(set(by_agent)))).all())
    agents = [_row(a, names.get(a, str(a)), by_agent[a], prev_by_agent.get(a, []), ci_width)
              for a in sorted(by_agent, key=lambda a: names.get(a, ""))]
    failed: Counter[str] = Counter()
    for s in current:
        labels = {c["key"]: c["label"] for c in scorecards.checks(s.scorecard.definition)}
        failed.update(labels.get(k, k) for k, ok in s.answers.items() if not ok)
    return QaReport(period, start, end, agents, _row(None, "团队合计", current, previous, ci_width),
                    failed.most_common(), ci_width)


HEADER = ["坐席", "评分通数", "平均分", "95%区间下限", "95%区间上限", "最低", "最高", "关键项不合格",
          "较上期", *[f"分布 {label}" for _, label in BUCKETS], "达到区间宽度还需"]


def cells(row: AgentRow) -> list:
    ci = row.interval
    r = lambda x: None if x is None else round(x, 1)
    return [row.name, ci.n, r(ci.mean), r(ci.low), r(ci.high), min(row.scores) if row.scores else None,
            max(row.scores) if row.scores else None, row.critical_failures, r(row.trend),
            *[row.distribution[label] for _, label in BUCKETS], row.needed]


def title(report: QaReport) -> str:
    kind = "服务质量综合考评表" if report.period == "month" else "质检周报"
    return f"{kind} {report.start:%Y-%m-%d} – {report.end - dt.timedelta(days=1):%Y-%m-%d}"


def to_csv(report: QaReport) -> str:
    rows = [[title(report)], HEADER, *[cells(row) for row in [*report.agents, report.team]], [],
            ["未通过的检查项", "次数"], *report.failed_checks, [report.training_note]]
    return spreadsheets.csv_text(rows)


def to_xlsx(report: QaReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "考评表" if report.period == "month" else "周报"
    spreadsheets.append_row(sheet, [title(report)])
    sheet["A1"].font = Font(bold=True, size=14)
    spreadsheets.append_row(sheet, HEADER, bold=True)
    for row in [*report.agents, report.team]:
        spreadsheets.append_row(sheet, cells(row))
    sheet.append([])
    spreadsheets.append_row(sheet, [report.training_note])
    checks = book.create_sheet("未通过检查项")
    spreadsheets.append_row(checks, ["检查项", "次数"])
    for item in report.failed_checks:
        spreadsheets.append_row(checks, list(item))
    sheet.column_dimensions["A"].width = 16
    return spreadsheets.xlsx_bytes(book)
