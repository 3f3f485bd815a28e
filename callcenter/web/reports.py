"""Supervisors' daily, weekly and monthly reports: the page with its chart, and the same
report as CSV and XLSX. Every number comes from ``services.reports`` (one KPI module)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request, url_for

from callcenter.services.reports import kpis
from callcenter.services.reports import report as reports
from callcenter.services.reports.export import to_csv, to_xlsx
from callcenter.services.setup.periods import PERIOD_KINDS, PERIOD_LABELS
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import ADMIN, SUPERVISOR, roles_required

bp = Blueprint("reports", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _choice() -> tuple[str, dt.date, str]:
    """The period kind, day and dimension the request asks for; a wrong one is a 400
    that names the allowed values."""
    settings = panel().settings
    kind = request.args.get("kind", "day")
    by = request.args.get("by", "line")
    if kind not in PERIOD_KINDS:
        abort(400, description=f"报表周期 {kind!r} 无效，可选：day（日）、week（周）、month（月）")
    if by not in kpis.DIMENSIONS:
        abort(400, description=f"分组 {by!r} 无效，可选：{'、'.join(kpis.DIMENSIONS)}")
    raw_day = request.args.get("day", "")
    try:
        day = dt.date.fromisoformat(raw_day) if raw_day else reports.today(settings)
    except ValueError:
        abort(400, description=f"日期 {raw_day!r} 无效，格式为 YYYY-MM-DD")
    return kind, day, by


@bp.route("/supervisor/reports")
@roles_required(SUPERVISOR, ADMIN)
def index():
    kind, day, by = _choice()
    settings = panel().settings
    with unit_of_work() as s:
        report = reports.build(s, settings, kind, day, by)
    args = {"kind": kind, "by": by}
    return render_template(
        "reports/index.html", report=report, data=reports.as_json(report),
        kpi_table=reports.kpi_table(report), complaint_table=reports.complaint_table(report),
        summary=reports.summary_lines(report), quality=reports.quality_lines(report), kinds=PERIOD_LABELS, dimensions=kpis.DIMENSIONS,
        kind=kind, by=by, day=day,
        previous=url_for(".index", day=report.period.previous(settings.timezone).first_day.isoformat(), **args),
        following=url_for(".index", day=report.period.next(settings.timezone).first_day.isoformat(), **args),
        csv_url=url_for(".export", fmt="csv", day=day.isoformat(), **args),
        xlsx_url=url_for(".export", fmt="xlsx", day=day.isoformat(), **args),
    )


@bp.route("/supervisor/reports/export.<fmt>")
@roles_required(SUPERVISOR, ADMIN)
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    kind, day, by = _choice()
    with unit_of_work() as s:
        report = reports.build(s, panel().settings, kind, day, by)
    name = f"report-{kind}-{report.period.first_day.isoformat()}-{by}.{fmt}"
    body, mimetype = (to_csv(report), "text/csv; charset=utf-8") if fmt == "csv" else (to_xlsx(report), XLSX)
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={name}"})
