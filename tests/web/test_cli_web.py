"""``callcenter web`` serves the panel with waitress."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import urllib.request

from click.testing import CliRunner

from callcenter.cli import main


def test_web_command_is_listed():
    result = CliRunner().invoke(main, ["web", "--help"])
    assert result.exit_code == 0 and "waitress" in result.output


def test_web_command_serves_the_sign_in_page(sqlite_url, tmp_path):
    env = {**os.environ, "CALLCENTER_DATABASE_URL": sqlite_url, "CALLCENTER_WEB_THREADS": "8"}
    env.pop("CALLCENTER_SECRET_KEY", None)
    command = [sys.executable, "-c", "from callcenter.cli import main; main()", "web", "--port", "0"]
    process = subprocess.Popen(command, cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://([\d.]+):(\d+)/", line)
        assert match, f"no address printed: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
        with urllib.request.urlopen(f"http://{match.group(1)}:{match.group(2)}/auth/login", timeout=10) as page:
            assert page.status == 200
            assert page.headers["X-Frame-Options"] == "DENY"
        secret = tmp_path / "instance" / "secret_key"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, "generated once, private to the service user"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
