"""The transcript widget: its JSON and the recording for QA and supervisors only, and in
Chromium the player and the transcript in step (the played line highlighted, a click on a
line or on a check's moment seeks)."""

from __future__ import annotations

import pytest
from browser.conftest import chromium  # noqa: F401 — fixture
from web.conftest import app, auth, bus, client, test_password_hash, users  # noqa: F401 — fixtures
from werkzeug.security import generate_password_hash

from callcenter.db import session_scope
from callcenter.models import Call, Role, User
from callcenter.services.qa.service_language import default_phrase_lists
from callcenter.services.speech.model import SpeechModel
from callcenter.services.speech.transcribe import AGENT, CALLER, SideText
from callcenter.services.speech.transcripts import run_checks, store_transcript
from callcenter.web import create_app
from callcenter.web.server import ServerThread

from .audio import silence, write_wav


def words(start: float, *items: str, step: float = 0.5) -> dict:
    timed = [[w, round(start + i * step, 2), round(start + (i + 1) * step - 0.05, 2), 1.0] for i, w in enumerate(items)]
    return {"start": timed[0][1], "end": timed[-1][2], "text": " ".join(items), "words": timed}


AGENT_LINES = [words(0.5, "您好", "请问", "有", "什么", "可以", "帮助", "您"),
               words(6.0, "这个", "我", "不", "知道"),
               words(11.0, "感谢", "您", "的", "来电", "再见")]
CALLER_LINES = [words(4.0, "我", "家", "漏水", "了"), words(8.5, "好", "的")]


def seed_call(url: str, recordings_dir) -> int:
    """A call with a 14 s recording, both sides transcribed, checks run."""
    model = SpeechModel(model=None, path=recordings_dir / "vosk-model-small-cn-0.22", language="cmn")
    with session_scope(url) as s:
        call = Call(uniqueid="1795344497.30", linkedid="1795344497.30", channel="PJSIP/trunk-0002",
                    caller_e164="+8613800138000", recording_file="calls/2026/12/06/1795344497.30.wav")
        s.add(call)
        s.flush()
        store_transcript(s, call.id, SideText(AGENT, recordings_dir / "a-in.wav", 14.0, AGENT_LINES), model)
        store_transcript(s, call.id, SideText(CALLER, recordings_dir / "a-out.wav", 14.0, CALLER_LINES), model)
        from callcenter.config import Settings
        run_checks(s, Settings(database_url=url), call.id, default_phrase_lists())
        call_id = call.id
    write_wav(recordings_dir / "calls/2026/12/06/1795344497.30.wav", silence(14.0))
    return call_id


@pytest.fixture
def seeded(settings, users):  # noqa: F811
    return seed_call(settings.database_url, settings.recordings_dir)


def test_transcript_json_for_qa(client, auth, seeded):  # noqa: F811
    auth.login("qa")
    data = client.get(f"/speech/calls/{seeded}/transcript.json").get_json()
    assert [(line["side"], line["start"]) for line in data["lines"]] == [
        (AGENT, 0.5), (CALLER, 4.0), (AGENT, 6.0), (CALLER, 8.5), (AGENT, 11.0)]
    assert data["checks"]["banned"] == {"passed": False, "label": "无服务忌语",
                                        "evidence": [{"at": 7.0, "phrase": "不知道", "text": "这个 我 不 知道"}]}
    assert data["checks"]["greeting"]["passed"] and data["checks"]["farewell"]["passed"]
    page = client.get(f"/speech/calls/{seeded}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="card cc-transcript"' in html and "js/transcript.js" in html


def test_the_recording_is_served_in_ranges(client, auth, seeded):  # noqa: F811
    auth.login("supervisor")
    whole = client.get(f"/speech/calls/{seeded}/audio")
    assert whole.status_code == 200 and whole.mimetype == "audio/wav"
    part = client.get(f"/speech/calls/{seeded}/audio", headers={"Range": "bytes=44-1043"})
    assert part.status_code == 206 and len(part.data) == 1000


def test_agents_cannot_read_transcripts_and_unknown_calls_are_404(client, auth, seeded):  # noqa: F811
    auth.login("agent")
    assert client.get(f"/speech/calls/{seeded}/transcript.json").status_code == 403
    assert client.get(f"/speech/calls/{seeded}/audio").status_code == 403
    auth.logout()
    auth.login("qa")
    assert client.get("/speech/calls/999999/transcript.json").status_code == 404
    assert client.get("/speech/calls/999999/audio").status_code == 404


# -- in the browser --------------------------------------------------------------------------------
@pytest.fixture
def site(sqlite_url, tmp_path):
    from callcenter.config import Settings

    settings = Settings(database_url=sqlite_url, secret_key="browser-test", recordings_dir=tmp_path / "rec",
                        web_threads=8)
    with session_scope(sqlite_url) as s:
        s.add(User(username="li", display_name="李质检", role=Role.QA,
                   password_hash=generate_password_hash("browser-pass", method="pbkdf2:sha256:1000")))
    call_id = seed_call(sqlite_url, settings.recordings_dir)
    server = ServerThread(create_app(settings, instance_path=tmp_path / "instance"), settings).start()
    try:
        yield {"url": server.url, "call_id": call_id}
    finally:
        server.stop()


@pytest.mark.browser
def test_player_and_transcript_in_step(chromium, site, tmp_path):  # noqa: F811
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1300, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site["url"] + "/auth/login")
    page.fill("#username", "li")
    page.fill("#password", "browser-pass")
    page.click("#login-submit")
    page.wait_for_load_state()
    page.goto(f"{site['url']}/speech/calls/{site['call_id']}")
    page.wait_for_selector(".cc-transcript-lines .line")
    lines = page.locator(".cc-transcript-lines .line")
    assert lines.count() == 5
    assert lines.nth(1).inner_text().split() == ["0:04", "客户", "我家漏水了"]      # Chinese without Vosk's spaces
    # Click the fourth line: the player seeks to 8.5 s and that line is the current one.
    lines.nth(3).click()
    page.wait_for_selector(".cc-transcript-lines .line.current[data-start='8.5']")
    assert page.eval_on_selector(".cc-transcript-audio", "a => a.currentTime") == pytest.approx(8.5, abs=0.3)
    # The banned phrase's moment seeks to 7.0 s: the second agent line is current.
    page.click(".cc-transcript-check-list li[data-check='banned'] .moment")
    page.wait_for_selector(".cc-transcript-lines .line.current[data-start='6']")
    assert page.locator(".cc-transcript-check-list li.failed").count() >= 1
    page.screenshot(path=str(tmp_path / "transcript.png"), full_page=True)
    context.close()
    assert not errors, errors
