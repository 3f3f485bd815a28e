"""``callcenter agi --workers N``: N processes serving one listening socket.

The server runs as a real process tree (parent + forked workers) on a real port; a
test route tells which worker served the call, and can hold its worker's event loop
until the test releases it, so the next connection can only be taken by another
worker (no timing involved)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from . import peers

SERVER = textwrap.dedent("""
    import asyncio, logging, os, sys, time
    from pathlib import Path
    from callcenter.agi import process
    from callcenter.agi.registry import Registry
    from callcenter.config import Settings

    workdir, port, workers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    logging.basicConfig(level=logging.INFO)
    registry = Registry()

    @registry.route("whoami")
    async def whoami(channel, ctx):
        mode = channel.request.args[0] if channel.request.args else ""
        if mode == "hold":
            # Hold this worker's event loop (it cannot accept) until the test releases it.
            (workdir / "held").write_text(str(os.getpid()))
            while not (workdir / "release").exists():
                time.sleep(0.01)
        elif mode == "slow":
            (workdir / "slow-started").write_text(str(os.getpid()))
            await asyncio.sleep(0.5)
        await channel.set_variable("CC_PID", str(os.getpid()))

    settings = Settings(database_url=f"sqlite:///{workdir}/cc.db", agi_host="127.0.0.1", agi_port=port)
    process.run(settings, registry, workers=workers)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, what: str, proc: subprocess.Popen, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert proc.poll() is None, f"server exited while waiting for {what}: {proc.stderr.read()!r}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _call(port: int, *args: str) -> peers.PeerResult:
    extra = {f"arg_{i}": a for i, a in enumerate(args, start=1)}
    head = peers.header("whoami", **extra) if extra else peers.header("whoami")
    return asyncio.run(peers.call(port, head, timeout=30))


@pytest.fixture
def workers(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path), str(port), "2"],
                            stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        _wait_for(lambda: _listening(port), "the listening socket", proc)
        yield proc, port, tmp_path
    finally:
        (tmp_path / "release").touch()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_two_workers_share_the_socket_and_each_serves_calls(workers):
    proc, port, workdir = workers

    async def scenario():
        held = asyncio.create_task(peers.call(port, peers.header("whoami", arg_1="hold"), timeout=30))
        await asyncio.to_thread(_wait_for, (workdir / "held").exists, "the held call", proc)
        # The first worker's loop is held: only the other worker can take these calls.
        others = [await peers.call(port, peers.header("whoami"), timeout=30) for _ in range(3)]
        (workdir / "release").touch()
        return await held, others

    held, others = asyncio.run(scenario())
    first = int((workdir / "held").read_text())
    assert held.variables() == {"CC_PID": str(first)}
    second = {int(o.variables()["CC_PID"]) for o in others}
    assert len(second) == 1 and first not in second
    assert {_parent_of(first), _parent_of(second.pop())} == {proc.pid}


def test_sigterm_lets_calls_in_progress_finish_and_stops_every_worker(workers):
    proc, port, workdir = workers
    pids = {int(_call(port).variables()["CC_PID"])}

    async def scenario():
        slow = asyncio.create_task(peers.call(port, peers.header("whoami", arg_1="slow"), timeout=30))
        await asyncio.to_thread(_wait_for, (workdir / "slow-started").exists, "the slow call", proc)
        proc.send_signal(signal.SIGTERM)
        return await slow

    slow = asyncio.run(scenario())
    assert slow.variables() == {"CC_PID": (workdir / "slow-started").read_text()} and slow.closed_by_server
    assert proc.wait(30) == 0
    pids.add(int((workdir / "slow-started").read_text()))
    for pid in pids:                                   # the workers are gone, not orphaned
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not _listening(port)
    stderr = proc.stderr.read().decode()
    assert "2 worker processes on 127.0.0.1:%d" % port in stderr and "FastAGI server stopped (2 workers)" in stderr


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    alive = set()
    for child in map(int, text.split()):
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(child)
    return alive


def test_a_worker_that_dies_is_replaced(workers):
    proc, port, _workdir = workers
    _wait_for(lambda: len(_children(proc.pid)) == 2, "two workers", proc)
    victim = int(_call(port).variables()["CC_PID"])
    assert victim in _children(proc.pid)
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        # One reading of the children: two readings could see the victim still running
        # in the first (two children) and dead in the second (not among them).
        children = _children(proc.pid)
        return len(children) == 2 and victim not in children

    _wait_for(replaced, "a replacement worker", proc)
    assert int(_call(port).variables()["CC_PID"]) in _children(proc.pid)
    stderr = _stop(proc)
    assert "exited with -9; starting another" in stderr, stderr


def test_workers_stop_when_their_parent_is_killed(workers):
    proc, port, _workdir = workers
    _wait_for(lambda: len(_children(proc.pid)) == 2, "two workers", proc)
    pids = _children(proc.pid)
    proc.kill()                                        # SIGKILL: the parent cannot stop them
    proc.wait(10)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids), "orphaned workers kept running"
    assert not _listening(port)
    assert "is gone; stopping" in proc.stderr.read().decode()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    return proc.stderr.read().decode()


def test_cli_agi_workers_option(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from callcenter.cli import main; main()", "agi", "--host",
                             "127.0.0.1", "--port", str(port), "--workers", "2"], cwd=tmp_path, stderr=subprocess.PIPE,
                            env=dict(os.environ, CALLCENTER_DATABASE_URL=f"sqlite:///{tmp_path}/cc.db"))
    try:
        _wait_for(lambda: _listening(port), "the listening socket", proc)
        result = asyncio.run(peers.call(port, peers.header("no_such_route")))
        stderr = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result.closed_by_server and proc.returncode == 0
    assert "2 worker processes on 127.0.0.1:%d" % port in stderr
    assert "no AGI route named 'no_such_route'" in stderr and "FastAGI server stopped (2 workers)" in stderr


WORKER_OF_A_DEAD_PARENT = textwrap.dedent("""
    import socket, sys
    from callcenter.agi import process
    from callcenter.config import Settings

    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    # The parent that forked this worker was killed before the worker ran a line: the
    # pid it was given is gone, and os.getppid() already names another process.
    process._worker_main(Settings(database_url=sys.argv[1]), None, sock, int(sys.argv[2]))
    print("stopped", flush=True)
""")


def test_a_worker_whose_parent_died_before_it_started_stops(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    worker = subprocess.Popen([sys.executable, "-c", WORKER_OF_A_DEAD_PARENT, f"sqlite:///{tmp_path}/cc.db",
                               str(gone.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        out, err = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail("the orphaned worker kept serving")
    assert b"stopped" in out and b"is gone; stopping" in err
