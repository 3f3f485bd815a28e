"""QA reports per agent and team, week or month, on screen and as CSV / XLSX."""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, render_template, request
from flask_login import current_user

from callcenter.services.people import audit
from callcenter.services.qa import reports as qa_reports
from callcenter.web.context import panel, unit_of_work
from callcenter.web.qa.blueprint import MANAGERS, bp, local_today
from callcenter.web.roles import roles_required

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _report():
    period = request.args.get("period", "month")
    if period not in ("week", "month"):
        abort(400)
    try:
        day = dt.date.fromisoformat(request.args["day"]) if request.args.get("day") else local_today()
        width = float(request.args["ci_width"]) if request.args.get("ci_width") else None
    except ValueError:
        abort(400)
    with unit_of_work() as s:
        return qa_reports.build(s, panel().settings, period, day, ci_width=width), day


@bp.route("/reports")
@roles_required(*MANAGERS)
def reports():
    report, day = _report()
    return render_template("qa/reports.html", report=report, day=day.isoformat(), title=qa_reports.title(report),
                           header=qa_reports.HEADER, cells=qa_reports.cells, args=request.args)


@bp.route("/reports/export.<fmt>")
@roles_required(*MANAGERS)
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    report, _ = _report()
    with unit_of_work() as s:
        audit.record(s, user_id=current_user.id, action="export", object_type="qa_report",
                     object_id=f"{report.period}:{report.start}", detail=fmt)
    name = f"qa-{report.period}-{report.start:%Y%m%d}.{fmt}"
    if fmt == "csv":
        body, mimetype = qa_reports.to_csv(report).encode("utf-8"), "text/csv; charset=utf-8"
    else:
        body, mimetype = qa_reports.to_xlsx(report), XLSX
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={name}"})
