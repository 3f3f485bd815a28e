"""A private Asterisk instance built from the project's own ``asterisk_conf/``.

Everything lives in one temporary directory: a generated ``asterisk.conf`` points every
directory Asterisk writes to (configs, spool, run, logs, astdb) into it, and the
project's config files are copied in with only what a private instance must change:

* ports: SIP, AMI and the FastAGI address are moved to free loopback ports;
* placeholders: the ``CHANGE-ME`` passwords and the AMI secret get throw-away values;
* the carrier trunk: its documentation address (192.0.2.10) becomes the loopback
  port of a local SIPp peer, so no test packet leaves the machine;
* paths: recordings go to the temporary directory.

Every rewrite must match exactly as often as expected, so a change to the shipped
files that a rewrite no longer fits fails loudly instead of starting an instance on
the real ports.

Run by hand (``python -m live.pbx`` from ``tests/``) to get an instance to explore.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF_DIR = REPO / "asterisk_conf"

ASTERISK_CONF = """\
[directories]
astetcdir => {root}/etc
astmoddir => {moddir}
astvarlibdir => {root}/lib
astdbdir => {root}/lib
astkeydir => {root}/lib
astdatadir => {datadir}
astagidir => {root}/agi
astspooldir => {root}/spool
astrundir => {root}/run
astlogdir => {root}/log
astsbindir => {sbindir}

[options]
verbose = 3
debug = 0
maxfiles = 4096
; never read the real /etc/asterisk or /var/lib/asterisk
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nobody listens on right now (TCP or UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def install_dirs(binary: Path) -> tuple[Path, Path]:
    """(module dir, data dir) of the installation the binary belongs to.

    ``CALLCENTER_ASTERISK_MODDIR`` / ``CALLCENTER_ASTERISK_DATADIR`` override; else
    a prefix install (``<prefix>/sbin/asterisk``) or Debian's layout is assumed.
    """
    prefix = binary.resolve().parent.parent
    moddirs = [os.environ.get("CALLCENTER_ASTERISK_MODDIR", ""),
               prefix / "lib/asterisk/modules", prefix / "lib64/asterisk/modules",
               "/usr/lib/x86_64-linux-gnu/asterisk/modules", "/usr/lib/asterisk/modules"]
    datadirs = [os.environ.get("CALLCENTER_ASTERISK_DATADIR", ""),
                prefix / "var/lib/asterisk", prefix / "share/asterisk", "/usr/share/asterisk",
                "/var/lib/asterisk"]
    moddir = next((Path(d) for d in moddirs if d and (Path(d) / "app_queue.so").is_file()), None)
    datadir = next((Path(d) for d in datadirs if d and Path(d).is_dir()), None)
    if moddir is None or datadir is None:
        raise FileNotFoundError(
            f"cannot find the modules (app_queue.so) or data directory of {binary}; "
            "set CALLCENTER_ASTERISK_MODDIR and CALLCENTER_ASTERISK_DATADIR")
    return moddir, datadir


def write_tone(path: Path, seconds: float, hz: float = 425.0) -> None:
    """An 8 kHz 16-bit mono WAV tone (425 Hz: China's ringback/dial tone frequency)."""
    rate = 8000
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * n / rate)))
                      for n in range(int(rate * seconds)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


@dataclass(frozen=True)
class Rewrite:
    file: str
    pattern: str
    replacement: str
    count: int = 1          # how many times the pattern must match


@dataclass
class Ports:
    sip: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    ami: int = field(default_factory=free_port)
    trunk: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))   # the carrier's SIPp
    agi: int = 0            # the FastAGI server's port (it binds first, then tells us)


class ConfigMismatch(AssertionError):
    """A rewrite no longer matches the shipped config files."""


def rewrites(ports: Ports, root: Path, *, ami_secret: str, sip_password: str) -> list[Rewrite]:
    return [
        # SIP on loopback only, on a free port.
        Rewrite("pjsip.conf", r"^bind = 0\.0\.0\.0:5060$", f"bind = 127.0.0.1:{ports.sip}"),
        # Placeholders: four CHANGE-ME passwords (three agents, the trunk).
        Rewrite("pjsip.conf", r"^password = CHANGE-ME$", f"password = {sip_password}", count=4),
        # The carrier: a SIPp on loopback instead of the documentation address.
        Rewrite("pjsip.conf", r"192\.0\.2\.10:5060", f"127.0.0.1:{ports.trunk}", count=3),
        Rewrite("pjsip.conf", r"^match = 192\.0\.2\.10$", f"match = 127.0.0.1:{ports.trunk}"),
        Rewrite("manager.conf", r"^port=5038$", f"port={ports.ami}"),
        Rewrite("manager.conf", r"^secret=CHANGE-ME$", f"secret={ami_secret}"),
        Rewrite("extensions.conf", r"^CALLCENTER_AGI=agi://127\.0\.0\.1:4573$",
                f"CALLCENTER_AGI=agi://127.0.0.1:{ports.agi}"),
        Rewrite("extensions.conf", r"^RECORDINGS_DIR=.*$", f"RECORDINGS_DIR={root}/recordings"),
        # A full log to read when a test fails.
        Rewrite("logger.conf", r"^;full\.log => .*$", "full.log => notice,warning,error,verbose(3),dtmf"),
        # Hold music from the instance's own directory (a build without the MOH package
        # has none, and the queues must still have a working class).
        Rewrite("musiconhold.conf", r"^directory=moh$", f"directory={root}/moh"),
    ]


def apply_rewrites(etc: Path, changes: list[Rewrite]) -> None:
    for change in changes:
        path = etc / change.file
        text = path.read_text(encoding="utf-8")
        new, n = re.subn(change.pattern, lambda _m, r=change.replacement: r, text, flags=re.MULTILINE)
        if n != change.count:
            raise ConfigMismatch(f"{change.file}: /{change.pattern}/ matched {n} times, "
                                 f"expected {change.count}: the private instance cannot be built")
        path.write_text(new, encoding="utf-8")


class Asterisk:
    """One private Asterisk process and its directory."""

    def __init__(self, binary: str | Path, ports: Ports, root: Path | None = None) -> None:
        self.binary = Path(binary)
        self.ports = ports
        # A short path: the control socket (run/asterisk.ctl) must fit in sun_path.
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="cc-ast-"))
        self.etc = self.root / "etc"
        self.conf = self.etc / "asterisk.conf"
        self.ami_secret = secrets.token_hex(12)
        self.sip_password = secrets.token_hex(12)
        self.process: subprocess.Popen | None = None
        self.boot_log: list[str] = []     # messages.log as it stood once fully booted

    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    # --- building ------------------------------------------------------------------------------
    def build(self) -> None:
        moddir, datadir = install_dirs(self.binary)
        for sub in ("etc", "lib/keys", "agi", "spool", "run", "log/cdr-csv", "log/cdr-custom", "recordings", "moh"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        write_tone(self.root / "moh" / "tone.wav", seconds=2.0)
        for path in CONF_DIR.glob("*.conf"):
            shutil.copy(path, self.etc / path.name)
        apply_rewrites(self.etc, rewrites(self.ports, self.root, ami_secret=self.ami_secret,
                                          sip_password=self.sip_password))
        self.conf.write_text(ASTERISK_CONF.format(
            root=self.root, moddir=moddir, datadir=datadir, sbindir=self.binary.resolve().parent),
            encoding="utf-8")

    # --- running -------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        """Start in the foreground mode (-f, no console) and wait for the CLI socket."""
        out = open(self.log_dir / "stdout.log", "ab")
        self.process = subprocess.Popen(
            [str(self.binary), "-C", str(self.conf), "-f", "-n", "-vvv"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.root)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"asterisk exited with {self.process.returncode}: "
                                   f"{self.tail('stdout.log')}")
            result = self.cli("core waitfullybooted", timeout=5, check=False)
            if "fully booted" in result.lower():
                self.boot_log = self.log_lines("messages.log")
                return
            time.sleep(0.2)
        raise TimeoutError(f"asterisk not fully booted after {timeout} s: {self.tail('stdout.log')}")

    def cli(self, command: str, *, timeout: float = 15, check: bool = True) -> str:
        """Run one CLI command through the control socket (asterisk -rx)."""
        try:
            result = subprocess.run([str(self.binary), "-C", str(self.conf), "-rx", command],
                                    capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            if check:
                raise
            return ""
        if check and result.returncode != 0:
            raise RuntimeError(f"asterisk -rx {command!r} failed ({result.returncode}): "
                               f"{result.stdout}{result.stderr}")
        return result.stdout

    def stop(self, timeout: float = 15.0) -> int | None:
        """'core stop now', then SIGTERM and SIGKILL to our own process if needed."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            self.cli("core stop now", timeout=5, check=False)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return proc.returncode

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # --- reading its logs ----------------------------------------------------------------------
    def log_lines(self, name: str = "messages.log") -> list[str]:
        path = self.log_dir / name
        return path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.log_lines(name)[-lines:])


def main() -> None:  # pragma: no cover - a manual helper
    binary = os.environ.get("CALLCENTER_ASTERISK", "/opt/asterisk22/sbin/asterisk")
    ports = Ports(agi=int(os.environ.get("CALLCENTER_AGI_PORT", "4573")))
    pbx = Asterisk(binary, ports)
    pbx.build()
    pbx.start()
    print(f"asterisk running in {pbx.root} (pid {pbx.process.pid}): SIP {ports.sip}, AMI {ports.ami} "
          f"(callcenter / {pbx.ami_secret}), trunk peer {ports.trunk}, FastAGI {ports.agi}, "
          f"agent password {pbx.sip_password}")
    print(f"CLI: {binary} -C {pbx.conf} -r     stop: {binary} -C {pbx.conf} -rx 'core stop now'")


if __name__ == "__main__":  # pragma: no cover
    main()
