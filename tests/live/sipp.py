"""Running SIPp (Debian package sip-tester) peers for the live tests.

Each peer is one ``sipp`` process bound to its own loopback port, started from a
scenario in ``tests/fixtures/sipp/``; it is waited for, or stopped by its own PID.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .pbx import free_port

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "sipp"


def sipp_binary() -> str | None:
    return shutil.which("sipp")


@dataclass
class Peer:
    name: str
    process: subprocess.Popen
    workdir: Path
    port: int

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.name}_log.log"

    def log_lines(self) -> list[str]:
        return self.log_file.read_text(errors="replace").splitlines() if self.log_file.exists() else []

    def diagnostics(self) -> str:
        parts = []
        for suffix in ("out", "err.log", "messages.log"):
            path = self.workdir / f"{self.name}_{suffix}"
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def wait(self, timeout: float) -> int:
        """Exit status; a peer still running after ``timeout`` is stopped and fails."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"sipp {self.name} still running after {timeout} s\n{self.diagnostics()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, scenario: str, workdir: Path, *, remote: str | None = None,
          port: int | None = None, calls: int | None = 1, inject: list[list[str]] | None = None,
          hold_ms: int | None = None, service: str | None = None,
          extra: list[str] | None = None) -> Peer:
    """Start one SIPp peer. ``remote`` (host:port) makes it a client; ``inject`` rows
    become its -inf CSV file (fields separated by ';'); ``calls`` = None serves until
    stopped."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(socket.SOCK_DGRAM)
    args = [sipp_binary() or "sipp"]
    if remote:
        args.append(remote)
    args += ["-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port),
             "-mi", "127.0.0.1", "-mp", str(free_port(socket.SOCK_DGRAM)),
             "-nostdin",
             "-trace_err", "-error_file", str(workdir / f"{name}_err.log"),
             "-trace_msg", "-message_file", str(workdir / f"{name}_messages.log"),
             "-trace_logs", "-log_file", str(workdir / f"{name}_log.log")]
    if calls is not None:            # None: serve until stopped
        args += ["-m", str(calls), "-timeout", "120", "-timeout_error"]
    if inject:
        csv = workdir / f"{name}.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(";".join(row) + "\n" for row in inject))
        args += ["-inf", str(csv)]
    if hold_ms is not None:
        args += ["-d", str(hold_ms)]
    if service:
        args += ["-s", service]
    args += extra or []
    out = open(workdir / f"{name}_out", "wb")
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=workdir)
    out.close()
    return Peer(name, process, workdir, port)
