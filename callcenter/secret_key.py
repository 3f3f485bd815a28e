"""The installation's secret: signs the panel's sessions and the messages the processes
exchange over the event bus. ``secret_key`` in the settings (the same for every process
of a split deployment: put it in callcenter.toml), else generated once into
``instance/secret_key`` (mode 0600) for a single host."""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_FILE = "secret_key"


def installation_secret(settings, instance_path: str | Path = "instance") -> str:
    return settings.secret_key or load_or_create_secret(instance_path)


def load_or_create_secret(instance_path: str | Path) -> str:
    """The instance's secret key, created on first use with 0600 permissions."""
    path = Path(instance_path) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    log.info("generated a new secret key in %s", path)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Someone loosened it: readable by others means sessions can be forged.
        os.chmod(path, 0o600)
        log.warning("%s was readable by others (mode %o); reset to 0600", path, mode)
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        # Another worker created the file a moment ago and is still writing it.
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it to generate a new secret key")
