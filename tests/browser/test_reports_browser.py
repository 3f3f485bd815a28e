"""A supervisor opens the month report in Chromium: Chart.js draws the chart, and the XLSX
downloaded from the page opens with openpyxl with the numbers the page shows."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from werkzeug.security import generate_password_hash

from callcenter.bus.core import InProcessBus
from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.models import Call, CallStatus, Role, User
from callcenter.timeutil import to_utc_naive
from callcenter.web import create_app
from callcenter.web.server import ServerThread

pytestmark = pytest.mark.browser

PASSWORD = "reports-pass-1"


@pytest.fixture
def site(sqlite_url, tmp_path):
    settings = Settings(database_url=sqlite_url, secret_key="reports-test", recordings_dir=tmp_path / "rec",
                        web_threads=8)
    with session_scope(sqlite_url) as s:
        s.add(User(username="boss", display_name="李主管", role=Role.SUPERVISOR,
                   password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")))
        agent = User(username="agent1001", display_name="张丽", role=Role.AGENT, password_hash="x")
        s.add(agent)
        s.flush()
        for day in range(1, 31):
            for hour, status, wait in ((9, CallStatus.COMPLETED, 8), (10, CallStatus.COMPLETED, 35),
                                       (15, CallStatus.ABANDONED, 40), (15, CallStatus.ABANDONED, 2)):
                start = to_utc_naive(dt.datetime(2026, 11, day, hour, 5), "Asia/Shanghai")
                answered = status is CallStatus.COMPLETED
                s.add(Call(uniqueid=f"{day}.{hour}.{wait}", linkedid=f"{day}.{hour}.{wait}", status=status,
                           queue="general_q", started_at=start, wait_seconds=wait,
                           talk_seconds=100 if answered else None, answered_at=start if answered else None,
                           answered_by_user_id=agent.id if answered else None))
    server = ServerThread(create_app(settings, InProcessBus(), instance_path=tmp_path / "instance"), settings).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_month_report_chart_and_xlsx(chromium, site, tmp_path):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site + "/auth/login")
    page.fill("#username", "boss")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.goto(site + "/supervisor/reports?kind=month&day=2026-11-15&by=hour")
    # Chart.js sizes the canvas it drew on.
    page.wait_for_selector("#report-chart[style*='box-sizing']")
    box = page.query_selector("#report-chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 200
    total = [td.text_content() for td in page.query_selector_all("#kpi-table tr.total td")]
    assert total[:5] == ["合计", "120", "60", "30", "30"]
    hours = [tr.query_selector("td").text_content() for tr in page.query_selector_all("#kpi-table tbody tr")]
    assert hours == ["09:00–09:59", "10:00–10:59", "15:00–15:59", "合计"]

    with page.expect_download() as download:
        page.click("text=Excel")
    path = tmp_path / "report.xlsx"
    download.value.save_as(path)
    rows = list(openpyxl.load_workbook(path)["话务"].iter_rows(min_row=3, values_only=True))
    assert [str(v) for v in rows[-1][:5]] == total[:5]
    assert [r[0] for r in rows] == hours
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    context.close()
    assert errors == []
