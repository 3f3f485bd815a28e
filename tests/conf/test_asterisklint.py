"""asterisklint over the shipped dialplan: every check it has must come back clean.

Nothing is silenced: ALINT_IGNORE is removed from the environment the linter sees.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .asterisk_files import CONF_DIR, read_sections

EXTENSIONS = CONF_DIR / "extensions.conf"


def asterisklint(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("asterisklint")
    command = str(exe) if exe.exists() else shutil.which("asterisklint")
    if command is None:
        pytest.fail("asterisklint is not installed (pip install -e '.[test]')")
    env = {k: v for k, v in os.environ.items() if k != "ALINT_IGNORE"}
    return subprocess.run([command, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("command", ["dialplan-check", "ident-scan"])
def test_dialplan_is_clean(command):
    result = asterisklint(command, str(EXTENSIONS))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_lint_catches_a_broken_dialplan(tmp_path):
    # The same check on a dialplan with known mistakes fails: the clean result above
    # means something. (A ';' in application data starts a comment in Asterisk.)
    broken = tmp_path / "extensions.conf"
    broken.write_text("[hotline]\nexten => 4008001000,1,NoOp(\n"
                      " same => n,Log(NOTICE,waiting; offering a callback)\n"
                      " same => n,Goto(nowhere,s,1)\n", encoding="utf-8")
    result = asterisklint("dialplan-check", str(broken))
    assert result.returncode == 1
    assert f"{broken}:2 W_APP_BALANCE" in result.stderr
    assert f"{broken}:3 W_APP_BALANCE" in result.stderr
    assert f"{broken}:4 E_DP_GOTO_NOCONTEXT" in result.stderr


def test_modules_the_dialplan_uses_are_not_switched_off():
    result = asterisklint("modules-show", str(EXTENSIONS))
    assert result.returncode == 0, result.stderr
    used = set(re.findall(r"^load => (\S+)$", result.stdout, re.MULTILINE))
    assert {"res_agi.so", "app_queue.so", "app_mixmonitor.so"} <= used
    [modules] = read_sections("modules.conf")
    assert modules.get("autoload") == "yes"
    assert used.isdisjoint(modules.all("noload"))
