"""Issue 11 #9, the admin CLI: a line naming a flow without a file, a duty shift in the
past, ``calendar day`` for a year without national data, and the user commands."""

from __future__ import annotations

import datetime as dt
import logging

from callcenter.models import DutyShift, User
from callcenter.services.people import users
from callcenter.services.setup import calendar, hours

from .test_lines import cli  # noqa: F401 - the fixture


def test_a_line_naming_a_flow_without_a_file_is_refused(cli, session, tmp_path):  # noqa: F811
    cli("setup-defaults")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "main.yaml").write_text("start: x\n", encoding="utf-8")
    out = cli("line", "add", "4008003000", "--kind", "ordinary", "--queue", "general_q",
              "--ivr-flow", "nosuchflow", ok=False).output
    assert "no IVR flow 'nosuchflow'" in out and "main" in out and "nothing was changed" in out
    assert "4008003000" not in cli("line", "list").output
    assert "no IVR flow" in cli("line", "set", "4008001000", "--ivr-flow", "nosuchflow", ok=False).output
    cli("line", "add", "4008003000", "--kind", "ordinary", "--queue", "general_q", "--ivr-flow", "main")
    cli("line", "set", "4008003000", "--ivr-flow", "")   # no flow at all stays possible


def test_a_duty_shift_in_the_past_is_refused_and_ended_ones_are_listed_on_request(cli, session):  # noqa: F811
    cli("setup-defaults")
    out = cli("duty", "add", "--queue", "duty", "--from", "2020-01-01 09:00", "--to", "2020-01-01 18:00",
              ok=False).output
    assert "already over" in out
    assert session.query(DutyShift).count() == 0
    # One that ended (entered before it ended) and one to come.
    hours.add_duty_shift(session, "duty", dt.datetime(2020, 1, 1, 1), dt.datetime(2020, 1, 1, 10), "老张")
    hours.add_duty_shift(session, "duty", dt.datetime(2099, 1, 1, 1), dt.datetime(2099, 1, 1, 10), "小王")
    session.commit()
    listing = cli("duty", "list").output
    assert "小王" in listing and "老张" not in listing and "1 ended shift(s) not shown; --all" in listing
    everything = cli("duty", "list", "--all").output
    assert "老张" in everything and "ended" in everything


def test_calendar_day_without_national_data_prints_no_raw_log_line(cli, caplog):  # noqa: F811
    calendar._warned_years.clear()
    calendar.national_day.cache_clear()
    year = calendar.national_coverage()[1] + 1
    caplog.set_level(logging.WARNING, logger="callcenter.services.setup.calendar")
    result = cli("calendar", "day", f"{year}-10-01")
    assert [r for r in caplog.records if r.name == "callcenter.services.setup.calendar"] == []
    assert result.output.startswith(f"{year}-10-01 ")
    assert f"not {year}" in result.output and "calendar holiday add" in result.output


def test_create_user_refuses_spaces_and_a_phone_without_pjsip(cli, session):  # noqa: F811
    out = cli("create-user", "wang fang", "--role", "agent", "--password", "longenough", ok=False).output
    assert "用户名不能包含空格" in out
    out = cli("create-user", "wangfang", "--role", "agent", "--interface", "agent1001", "--password",
              "longenough", ok=False).output
    assert "PJSIP/agent1001" in out
    assert session.query(User).count() == 0
    cli("create-user", "wangfang", "--role", "agent", "--interface", "PJSIP/agent1001", "--password", "longenough")


def test_user_list_deactivate_activate_reset(cli, session):  # noqa: F811
    cli("create-user", "wangfang", "--role", "agent", "--name", "王芳", "--interface", "PJSIP/agent1001",
        "--password", "longenough")
    user = session.query(User).filter_by(username="wangfang").one()
    user.last_login_at = dt.datetime(2026, 12, 6, 2, 3, 4, 123456)
    session.commit()
    listing = cli("user", "list").output
    assert "wangfang" in listing and "agent (坐席)" in listing and "2026-12-06 10:03" in listing
    assert "123456" not in listing
    version = user.session_version
    cli("user", "deactivate", "wangfang")
    session.expire_all()
    assert not user.active and user.session_version > version
    assert "wangfang" not in cli("user", "list").output.split("\n", 1)[1]
    assert "1 deactivated user(s) not shown" in cli("user", "list").output
    assert "deactivated" in cli("user", "list", "--all").output
    cli("user", "activate", "wangfang")
    cli("user", "reset-password", "wangfang", "--password", "another-pass-1")
    session.expire_all()
    assert users.verify_password(user, "another-pass-1") and user.active
    assert "no user 'nobody'" in cli("user", "deactivate", "nobody", ok=False).output
    assert "至少 8 位" in cli("user", "reset-password", "wangfang", "--password", "short", ok=False).output


def test_the_demo_directory_and_its_passwords_file_are_not_committed():
    from pathlib import Path

    ignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text(encoding="utf-8").split()
    assert "/demo/" in ignore


def test_the_quick_start_says_chinese_needs_a_cjk_font():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    assert "fonts-noto-cjk" in quick_start
