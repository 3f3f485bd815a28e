"""`callcenter prompts build` with the real espeak-ng and sox; `callcenter ivr check`."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter.cli import main as cli
from callcenter.config import get_settings
from callcenter.ivr.sounds import build_prompts, text_hash

from .conftest import SHIPPED_FLOWS, bump_mtime, write_flow

pytestmark = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")),
    reason="espeak-ng and sox are needed (apt-get install espeak-ng sox)")

FLOW = """
root: main
defaults: {default: {queue: human}}
prompts:
  hello: 您好，欢迎来电。
  menu: 咨询请按1，人工服务请按0。
nodes:
  main:
    say: hello
    prompt: menu
    keys: {"1": {queue: consultation}, "0": {queue: human}}
"""


@pytest.fixture(autouse=True)
def _site_settings(monkeypatch, tmp_path):
    """The CLI reads get_settings(): give each test its own, from the environment."""
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    monkeypatch.setenv("CALLCENTER_IVR_FLOWS_DIR", str(SHIPPED_FLOWS))
    monkeypatch.setenv("CALLCENTER_PROMPTS_DIR", str(tmp_path / "site-prompts"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def use_prompts_dir(monkeypatch, prompts_dir: Path) -> None:
    monkeypatch.setenv("CALLCENTER_PROMPTS_DIR", str(prompts_dir))
    get_settings.cache_clear()


def asterisk_wav(path: Path) -> float:
    """Assert the file is what Asterisk's wav format reads; return its duration (s)."""
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == 8000
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2                 # 16-bit
        assert w.getcomptype() == "NONE"             # plain PCM
        frames = w.getnframes()
        audio = w.readframes(frames)
    assert max(abs(int.from_bytes(audio[i:i + 2], "little", signed=True))
               for i in range(0, len(audio), 2)) > 3000, "silence instead of speech"
    return frames / 8000


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_build_renders_asterisk_format_with_hash_sidecars(tmp_path):
    flows = tmp_path / "flows"
    write_flow(flows, "main", FLOW)
    out = tmp_path / "prompts"
    result = invoke("prompts", "build", "--flows", str(flows), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "2 rendered, 0 unchanged" in result.output
    for prompt_id, text in {"hello": "您好，欢迎来电。", "menu": "咨询请按1，人工服务请按0。"}.items():
        duration = asterisk_wav(out / f"{prompt_id}.wav")
        assert 0.8 < duration < 15
        assert (out / f"{prompt_id}.sha256").read_text().strip() == text_hash(text)
    soxi = subprocess.run(["soxi", str(out / "menu.wav")], capture_output=True, text=True, check=True)
    assert "Sample Rate    : 8000" in soxi.stdout and "16-bit Signed Integer PCM" in soxi.stdout
    # Nothing else is left behind (temporary files are cleaned up).
    assert sorted(p.name for p in out.iterdir()) == ["hello.sha256", "hello.wav", "menu.sha256", "menu.wav"]


def test_unchanged_prompts_are_skipped_changed_ones_rendered_force_renders_all(tmp_path):
    flows = tmp_path / "flows"
    path = write_flow(flows, "main", FLOW)
    out = tmp_path / "prompts"
    build_prompts({"hello": "您好，欢迎来电。", "menu": "咨询请按1，人工服务请按0。"}, out)
    hello_before = (out / "hello.wav").stat().st_mtime_ns
    path.write_text(path.read_text(encoding="utf-8").replace("人工服务请按0", "人工请按0"), encoding="utf-8")
    bump_mtime(path)
    result = invoke("prompts", "build", "--flows", str(flows), "--out", str(out))
    assert "rendered menu" in result.output and "rendered hello" not in result.output
    assert "1 rendered, 1 unchanged" in result.output
    assert (out / "hello.wav").stat().st_mtime_ns == hello_before
    assert (out / "menu.sha256").read_text().strip() == text_hash("咨询请按1，人工请按0。")
    result = invoke("prompts", "build", "--flows", str(flows), "--out", str(out), "--force")
    assert "2 rendered, 0 unchanged" in result.output


def test_missing_audio_is_rendered_and_foreign_audio_kept(tmp_path):
    out = tmp_path / "prompts"
    build_prompts({"hello": "您好"}, out)
    (out / "hello.wav").unlink()
    studio = out / "menu.wav"
    studio.write_bytes(b"RIFF....studio recording")
    result = build_prompts({"hello": "您好", "menu": "请选择"}, out)
    assert (result.rendered, result.kept) == (["hello"], ["menu"])
    assert studio.read_bytes() == b"RIFF....studio recording"
    assert build_prompts({"menu": "请选择"}, out, force=True).rendered == ["menu"]
    asterisk_wav(studio)


def test_sln_output(tmp_path):
    out = tmp_path / "prompts"
    build_prompts({"hello": "您好，欢迎来电。"}, out, sln=True)
    raw = (out / "hello.sln").read_bytes()
    with wave.open(str(out / "hello.wav"), "rb") as w:
        assert raw == w.readframes(w.getnframes())       # same samples, no header
    # Asked for again without --sln: the now-outdated .sln would shadow a new .wav.
    build_prompts({"hello": "您好。"}, out)
    assert not (out / "hello.sln").exists()


def test_missing_tools_give_the_apt_packages(tmp_path, monkeypatch):
    flows = tmp_path / "flows"
    write_flow(flows, "main", FLOW)
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    result = invoke("prompts", "build", "--flows", str(flows), "--out", str(tmp_path / "p"))
    assert result.exit_code == 1
    assert "espeak-ng and sox not found on PATH" in result.output
    assert "apt-get install espeak-ng sox" in result.output


def test_all_shipped_prompts_render(tmp_path, monkeypatch):
    out = tmp_path / "prompts"
    result = invoke("prompts", "build", "--flows", str(SHIPPED_FLOWS), "--out", str(out))
    assert result.exit_code == 0, result.output
    wavs = sorted(out.glob("*.wav"))
    assert len(wavs) == 53          # 41 of the hotline flows, 12 of the survey flows (sv_*)
    durations = {p.stem: asterisk_wav(p) for p in wavs}
    assert 0.15 < durations["digit_1"] < 1.5
    # The menu a caller sits through: short enough not to waste their time.
    assert 5 < durations["main_menu"] < 20
    use_prompts_dir(monkeypatch, out)
    check = invoke("ivr", "check", "--audio")       # flows and prompts_dir from the settings
    assert check.exit_code == 0, check.output
    assert "flow 'main', 4 nodes, 15 prompts" in check.output


def test_ivr_check_reports_problems_and_missing_audio(tmp_path, monkeypatch):
    flows = tmp_path / "flows"
    write_flow(flows, "main", FLOW.replace("queue: consultation", "goto: nowhere"))
    result = invoke("ivr", "check", "--flows", str(flows))
    assert result.exit_code == 1
    assert (f"{flows / 'main.yaml'}: node 'main': key '1' goes to unknown node 'nowhere' (line 10)"
            in result.output)
    assert "1 problem in" in result.output

    write_flow(flows, "main", FLOW)
    use_prompts_dir(monkeypatch, tmp_path / "no-prompts")
    result = invoke("ivr", "check", "--flows", str(flows), "--audio")
    assert result.exit_code == 1
    assert "no audio for prompt 'hello'" in result.output and "no audio for prompt 'menu'" in result.output
    result = invoke("ivr", "check", "--flows", str(flows))
    assert result.exit_code == 0 and "flow 'main', 1 node, 2 prompts" in result.output


def test_ivr_check_wants_the_after_hours_route_prompts(tmp_path):
    flows = tmp_path / "flows"
    text = (SHIPPED_FLOWS / "after_hours.yaml").read_text(encoding="utf-8")
    write_flow(flows, "after_hours", text.replace("  digit_7: 七\n", ""))
    result = invoke("ivr", "check", "--flows", str(flows))
    assert result.exit_code == 1
    assert "prompt 'digit_7' is needed by the after_hours route" in result.output
