"""The names of a call's recording files, shared by the dialplan and the code.

MixMonitor writes three files per answered call (asterisk_conf/README.md "Recordings"):
``<stem>.wav``, both voices mixed (what the browser plays); ``<stem>-caller.wav``, its
``r()`` file (what Asterisk received from the caller's channel: the caller alone); and
``<stem>-agent.wav``, its ``t()`` file (what it sent to the caller: the agent alone), which
the transcription reads side by side.
"""

from __future__ import annotations

CALLER_SUFFIX = "-caller"
AGENT_SUFFIX = "-agent"


def side_files(recording_file: str) -> tuple[str, str]:
    """(caller file, agent file) for a mixed recording's name, "" for no recording."""
    if not recording_file:
        return "", ""
    stem, dot, ext = recording_file.rpartition(".")
    if not dot or "/" in ext:
        stem, ext = recording_file, ""
    suffix = f".{ext}" if ext else ""
    return f"{stem}{CALLER_SUFFIX}{suffix}", f"{stem}{AGENT_SUFFIX}{suffix}"
