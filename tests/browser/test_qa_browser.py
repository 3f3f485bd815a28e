"""QA in the browser: an inspector opens a sampled call, the recording (a real two-voice
WAV made here with sox) plays and seeks, a comment is pinned to a moment, the scorecard is
submitted; the agent sees the score and appeals; the supervisor decides; the history shows
both versions. Screenshots of each page land in the test's directory (and in
$CALLCENTER_SCREENSHOTS when set)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from callcenter.bus.core import InProcessBus
from callcenter.config import Settings
from callcenter.db import session_scope, utcnow
from callcenter.models import (
    Call,
    CallStatus,
    Line,
    LineKind,
    QaAssignment,
    Queue,
    QueueKind,
    Role,
    Ticket,
    TicketStatus,
    TicketType,
    User,
)
from callcenter.services.qa import draws
from callcenter.timeutil import to_local
from callcenter.web import create_app
from callcenter.web.server import ServerThread

from .conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

PASSWORD = "browser-pass-1"
RECORDING = "calls/2026/12/06/1764990000.7.wav"


def two_voice_wav(root: Path) -> None:
    """Caller and agent taking turns (two different voices: a low and a high glide), the
    mixed file and the two side files, 6 seconds, 8 kHz mono like MixMonitor's."""
    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("sox is not installed")
    mixed = root / RECORDING
    mixed.parent.mkdir(parents=True, exist_ok=True)
    caller, agent = mixed.with_name(mixed.stem + "-caller.wav"), mixed.with_name(mixed.stem + "-agent.wav")
    rate = ["-r", "8000", "-c", "1", "-b", "16"]
    subprocess.run([sox, "-n", *rate, str(caller), "synth", "2", "sine", "180-260", "pad", "0", "4"], check=True)
    subprocess.run([sox, "-n", *rate, str(agent), "synth", "3", "sine", "500-700", "pad", "2.5", "0.5"], check=True)
    subprocess.run([sox, "-m", str(caller), str(agent), str(mixed)], check=True)


@pytest.fixture(scope="module")
def audio_browser():
    """Chromium allowed to start playback without a click (headless has no user)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site(sqlite_url, tmp_path):
    settings = Settings(database_url=sqlite_url, secret_key="qa-browser", recordings_dir=tmp_path / "rec",
                        web_threads=16)
    two_voice_wav(tmp_path / "rec")
    pw = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with session_scope(sqlite_url) as s:
        people = {name: User(username=name, display_name=label, role=role, password_hash=pw,
                             created_at=dt.datetime(2025, 1, 1))
                  for name, label, role in (("wang", "王坐席", Role.AGENT), ("li", "李质检", Role.QA),
                                            ("zhao", "赵主管", Role.SUPERVISOR))}
        s.add_all(people.values())
        queue = Queue(name="vip", kind=QueueKind.VIP)
        s.add(queue)
        s.flush()
        line = Line(number="4008002000", name="VIP客户专线", kind=LineKind.VIP, queue_id=queue.id)
        s.add(line)
        s.flush()
        call = Call(uniqueid="1764990000.7", linkedid="1764990000.7", line_id=line.id, dialled_number=line.number,
                    caller_number="13800138000", caller_e164="+8613800138000", ivr_path=["main", "3"],
                    category="repair", queue="vip", status=CallStatus.COMPLETED, started_at=utcnow(),
                    answered_by_user_id=people["wang"].id, answered_by_interface="PJSIP/agent1001",
                    wait_seconds=14, talk_seconds=6, recording_file=RECORDING,
                    recording_caller_file=RECORDING.replace(".wav", "-caller.wav"),
                    recording_agent_file=RECORDING.replace(".wav", "-agent.wav"))
        s.add(call)
        s.add(Ticket(number="GD20261206-0001", type=TicketType.REPAIR, status=TicketStatus.OPEN,
                     owner_id=people["wang"].id, subject="厨房漏水", call_linkedid=call.linkedid))
        s.flush()
        plan = draws.default_plan(s)
        plan.rules = {"min_talk_seconds": 5}
        s.flush()
        day = to_local(call.started_at, settings.timezone).date()
        sample = draws.make_sample(s, settings, plan, day, seed=2026)
        assert sample.call_ids == [call.id]
        assert s.scalar(select(QaAssignment.inspector_id)) == people["li"].id
        call_id = call.id
    app = create_app(settings, InProcessBus(), instance_path=tmp_path / "instance")
    server = ServerThread(app, settings).start()
    try:
        yield {"url": server.url, "call_id": call_id, "db": sqlite_url, "shots": tmp_path}
    finally:
        server.stop()


def open_page(browser, site, username: str):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(site["url"] + "/auth/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    return context, page, errors


def shot(page, site, name: str) -> None:
    path = site["shots"] / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    target = os.environ.get("CALLCENTER_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def player_time(page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def wait_for(page, probe, what: str, timeout_s: float = 10.0):
    """Poll a probe (the panel's CSP forbids the eval that wait_for_function needs)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def test_inspect_score_appeal_decide(audio_browser, site):
    call_id = site["call_id"]
    # --- the inspector --------------------------------------------------------------------
    context, page, errors = open_page(audio_browser, site, "li")
    audio_responses = []
    page.on("response", lambda r: audio_responses.append(r) if "/recording" in r.url else None)
    page.goto(site["url"] + "/qa/")
    shot(page, site, "qa-index")
    page.click(f"#my-assignments a[href='/qa/calls/{call_id}']")
    page.wait_for_selector("#player")
    assert "VIP客户专线" in page.text_content("#call-details") and "main → 3" in page.text_content("#call-details")
    assert "GD20261206-0001" in page.text_content("main")

    page.evaluate("document.getElementById('player').play()")
    wait_for(page, lambda: player_time(page) > 0.5, "the recording to play")
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(6.0, abs=0.1)
    assert any(r.status in (200, 206) and r.headers.get("accept-ranges") == "bytes" for r in audio_responses)
    page.select_option("#speed", "1.5")
    assert page.evaluate("document.getElementById('player').playbackRate") == 1.5
    page.evaluate("document.getElementById('player').pause()")
    page.evaluate("document.getElementById('player').currentTime = 3.2")   # seek
    wait_for(page, lambda: abs(player_time(page) - 3.2) < 0.05, "the seek")
    wait_for(page, lambda: page.input_value("#comment-at") == "3.2", "the comment time to follow the player")
    page.fill("#comment-form input[name=text]", "坐席在此处打断客户")
    page.click("#comment-form button[type=submit]")
    link = page.wait_for_selector("a.seek[data-at='3.2']")
    page.evaluate("document.getElementById('player').currentTime = 0")
    link.click()
    wait_for(page, lambda: abs(player_time(page) - 3.2) < 0.3, "the comment to seek the player")

    for radio in page.query_selector_all("#score-form input[type=radio][value=yes]"):
        radio.check()
    page.check("#score-form input[name=check_no_interrupt][value=no]")
    page.fill("#score-form textarea[name=comment]", "整体规范，注意不要打断客户")
    shot(page, site, "qa-call-scoring")
    page.click("#score-form button[type=submit]")
    page.wait_for_selector(".score-version[data-version='1']")
    assert "91.67" in page.text_content("#history")
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors

    # --- the agent ------------------------------------------------------------------------
    context, page, errors = open_page(audio_browser, site, "wang")
    page.goto(site["url"] + "/qa/mine")
    assert "91.67" in page.text_content("#my-scores")
    shot(page, site, "qa-mine")
    page.click(f"#my-scores a[href='/qa/calls/{call_id}']")
    page.wait_for_selector("#player")
    assert page.query_selector("#score-form") is None
    page.fill("#appeal-form input[name=reason]", "客户停顿时我才开口，没有打断")
    page.click("#appeal-form button[type=submit]")
    page.wait_for_selector(".appeal[data-status='open']")
    context.close()

    # --- the supervisor -------------------------------------------------------------------
    context, page, errors = open_page(audio_browser, site, "zhao")
    page.goto(site["url"] + "/qa/")
    page.click(f"#open-appeals a[href='/qa/calls/{call_id}#appeals']")
    page.wait_for_selector("#decide-form")
    page.check("#decide-form input[name=decision][value=upheld]")
    page.check("#decide-form input[name=check_no_interrupt][value=yes]")
    page.fill("#decide-form input[name=note]", "复听属实，未打断")
    shot(page, site, "qa-appeal-decision")
    page.click("#decide-form button[type=submit]")
    page.wait_for_selector(".score-version[data-version='2']")
    history = page.text_content("#history")
    assert "第 1 版：91.67 分" in history and "第 2 版：100 分" in history and "申诉成立：复听属实，未打断" in history
    assert page.query_selector(".appeal[data-status='upheld']") is not None
    shot(page, site, "qa-history")
    page.goto(site["url"] + "/qa/reports")
    shot(page, site, "qa-reports")
    context.close()
