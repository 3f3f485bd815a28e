"""Per-call (stdin/stdout) AGI scripts, run as real subprocesses fed the recorded classic
AGI sessions (2a, 2b: a real SIGHUP), and pyst2's API through the fixed SafeAGI."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from asterisk import agi as pyst_agi

from callcenter.agi.pyst import AGIConnectionClosed, AGIDeadChannel, SafeAGI

from .asterisk_args import command_argv
from .transcripts import Replay, load

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


async def run_script(transcript_name: str, argv: list[str], tmp_path: Path, *, with_sighup: bool = False):
    result_file = tmp_path / "seen.json"
    env = dict(os.environ, AGI_TEST_RESULT=str(result_file), PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env, cwd=str(tmp_path))

    async def write(data: bytes) -> None:
        proc.stdin.write(data)
        await proc.stdin.drain()

    signalled = []

    def on_signal(note: str) -> None:
        if with_sighup:
            proc.send_signal(signal.SIGHUP)
            signalled.append(note)

    replay = Replay(load("agi", transcript_name), on_signal=on_signal, command_timeout=20.0)
    result = await replay.run(proc.stdout, write)
    proc.stdin.close()
    stderr = await proc.stderr.read()
    code = await asyncio.wait_for(proc.wait(), 20)
    seen = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
    return result, code, stderr.decode("utf-8", "replace"), seen, signalled


def test_2a_classic_tour_through_pyst2(tmp_path):
    result, code, stderr, seen, _ = asyncio.run(
        run_script("2a_classic_agi_tour", [str(HERE / "classic_script.py"), "tour"], tmp_path))
    assert result.errors == [] and result.finished and result.saw_close
    assert code == 0
    assert seen["route"] == "tour" and seen["args"] == ["arg1", "arg 2"]
    assert seen["num"] == "13800138000" and seen["name"] == "Test Caller"
    assert seen["stream"] == [None, 11234] and seen["digits"] == ["1", False]
    assert seen["status"] == "6" and seen["unset"] is None and seen["unknown"] == 510
    assert seen["usage"][-1] == "520 End of proper usage."
    # pyst2 logged every header line, caller ID included: nothing of it reaches stderr.
    assert "13800138000" not in stderr and "Test Caller" not in stderr and "ENV LINE" not in stderr


def test_2b_classic_sighup_becomes_hangup_not_death(tmp_path):
    result, code, stderr, seen, signalled = asyncio.run(run_script(
        "2b_classic_agi_caller_hangup", [str(HERE / "classic_script.py")], tmp_path, with_sighup=True))
    assert signalled, "the transcript's SIGHUP was sent"
    assert result.errors == [] and result.finished and result.saw_close
    assert code == 0                       # SIGHUP's default action would have killed it (-1)
    # Generic script: the first AGI argument named the route, the handler sees the rest.
    assert seen["route"] == "hangup_test" and seen["args"] == []
    assert seen["hangup"] is True and seen["num"] == "13800138000" and seen["refused"] == 2 and seen["done"]
    assert "Traceback" not in stderr


def test_classic_failure_policy_sets_fallback_variables(tmp_path):
    header = load("agi", "2b_classic_agi_caller_hangup").header

    async def scenario():
        env = dict(os.environ, AGI_TEST_RESULT=str(tmp_path / "x.json"), PYTHONPATH=str(ROOT))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "classic_script.py"), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        proc.stdin.write(header.replace(b"agi_arg_1: hangup_test", b"agi_arg_1: fails"))
        await proc.stdin.drain()
        sent = b""
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            if not line:
                break
            sent += line
            proc.stdin.write(b"200 result=1\n")
            await proc.stdin.drain()
        stderr = await proc.stderr.read()
        return sent, await proc.wait(), stderr.decode()

    sent, code, stderr = asyncio.run(scenario())
    assert command_argv(sent) == [[b"SET", b"VARIABLE", b"CC_ROUTE", b"queue"],
                                  [b"SET", b"VARIABLE", b"CC_QUEUE", b"general_q"]]
    assert code == 0
    assert "[1795344538.24] route fails failed, using its fallback" in stderr
    assert "ZeroDivisionError" in stderr


HEADER = load("agi", "2a_classic_agi_tour").header


def safe_agi(replies: bytes) -> tuple[SafeAGI, io.BytesIO, io.StringIO]:
    out, err = io.BytesIO(), io.StringIO()
    agi = SafeAGI(stdin=io.BytesIO(HEADER + replies), stdout=out, stderr=err)
    return agi, out, err


def test_pyst2_api_quotes_everything_it_sends():
    agi, out, err = safe_agi(b"200 result=1\n" * 3 + b"200 result=1 (x)\n")
    agi.set_variable("CC_NAME", '张三 "VIP" \\ \n agi_injected: yes')
    agi.say_digits("1 2")                   # pyst2 sent this one unquoted
    agi.verbose('a"b', 1)
    assert agi.get_variable("X") == "x"
    assert command_argv(out.getvalue()) == [
        [b"SET", b"VARIABLE", b"CC_NAME", '张三 "VIP" \\   agi_injected: yes'.encode()],
        [b"SAY", b"DIGITS", b"1 2", b""], [b"VERBOSE", b'a"b', b"1"], [b"GET", b"VARIABLE", b"X"]]
    assert err.getvalue() == ""
    assert agi.env["agi_callerid"] == "13800138000"


def test_pyst2_api_hangup_line_eof_and_511():
    agi, _, _ = safe_agi(b"HANGUP\n200 result=1\n511 Command Not Permitted on a dead channel or intercept routine\n")
    agi.execute("NOOP")                     # pyst2: ValueError on the HANGUP line
    assert agi._got_sighup
    agi._got_sighup = False                 # let pyst2's own test_hangup() pass
    with pytest.raises(AGIDeadChannel):     # pyst2: AGIUnknownError
        agi.execute("STREAM FILE", "beep", '""')
    assert agi._got_sighup
    agi._got_sighup = False
    with pytest.raises(AGIConnectionClosed) as eof:    # pyst2: ValueError
        agi.execute("NOOP")
    assert isinstance(eof.value, pyst_agi.AGIHangup)


def test_install_agi_scripts_writes_runnable_scripts_for_every_route(tmp_path):
    from click.testing import CliRunner

    from callcenter.agi.handlers import default_registry
    from callcenter.cli import main as cli

    dest = tmp_path / "agi-bin"
    outcome = CliRunner().invoke(cli, ["install-agi-scripts", str(dest), "--python", sys.executable])
    assert outcome.exit_code == 0, outcome.output
    names = sorted(p.name for p in dest.iterdir())
    assert names == sorted(["callcenter_agi.py", *(f"{r}.py" for r in default_registry().names())])
    script = dest / "callcenter_agi.py"
    assert script.read_text().startswith(f"#!{sys.executable}\n") and os.access(script, os.X_OK)
    # Executed the way Asterisk does it (by path, its #! line picks the interpreter):
    # a route that does not exist is reported on stderr, nothing is sent, exit 0.
    header = load("agi", "2a_classic_agi_tour").header.replace(b"agi_arg_1: arg1", b"agi_arg_1: no_such_route")
    done = subprocess.run([str(script), "no_such_route", "arg 2"], input=header, capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout == b""
    assert b"no AGI route named 'no_such_route'" in done.stderr
