"""The emulated Asterisk's CDR store: one line per hotline call in the format of the
project's cdr_custom.conf (cdr-custom/callcenter.csv), written when the caller's channel
hangs up, whether or not anybody listens on AMI. The live tests check the real Asterisk
writes the same columns (tests/live)."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path

from callcenter.ami.protocol import Message


@dataclass
class _Facts:
    uniqueid: str
    linkedid: str
    channel: str
    caller_num: str
    caller_name: str
    dialled: str
    start: float
    queue: str = ""
    agent: str = ""
    agent_channel: str = ""
    answered_at: float = 0.0
    queue_status: str = ""
    recording: str = ""


class CdrStore:
    """Follows the events the emulator emits and appends a line per queued caller."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._facts: dict[str, _Facts] = {}
        self.written = 0

    def observe(self, msg: Message) -> None:
        name, uniqueid = msg.event, msg.get("Uniqueid")
        if name == "QueueCallerJoin":
            self._facts.setdefault(uniqueid, _Facts(
                uniqueid=uniqueid, linkedid=msg.get("Linkedid") or uniqueid, channel=msg.get("Channel"),
                caller_num=_known(msg.get("CallerIDNum")), caller_name=_known(msg.get("CallerIDName")),
                dialled=msg.get("Exten"), start=time.time())).queue = msg.get("Queue")
            return
        facts = self._facts.get(uniqueid)
        if facts is None:
            return
        if name == "AgentConnect" and not facts.agent:
            facts.agent, facts.agent_channel = msg.get("Interface"), msg.get("DestChannel")
            facts.answered_at = time.time()
        elif name == "VarSet" and msg.get("Variable") == "QUEUESTATUS":
            facts.queue_status = msg.get("Value")
        elif name == "VarSet" and msg.get("Variable") == "MIXMONITOR_FILENAME":
            facts.recording = msg.get("Value")
        elif name == "QueueCallerAbandon" and not facts.queue_status:
            facts.queue_status = "ABANDON"
        elif name == "Hangup":
            self._write(self._facts.pop(uniqueid))

    def _write(self, facts: _Facts) -> None:
        end = time.time()
        talk = int(end - facts.answered_at) if facts.answered_at else 0
        clid = f'"{facts.caller_name}" <{facts.caller_num}>' if facts.caller_name else facts.caller_num
        row = [facts.uniqueid, facts.linkedid, "cc-inbound", facts.caller_num, clid, facts.dialled,
               facts.channel, facts.agent_channel, f"{facts.start:.6f}", f"{facts.start:.6f}", f"{end:.6f}",
               str(talk), "ANSWERED", "", facts.queue, "queue", facts.agent,
               "" if facts.agent else facts.queue_status, facts.recording]
        out = io.StringIO()
        csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(row)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(out.getvalue())
        self.written += 1


def _known(value: str) -> str:
    return "" if value in ("<unknown>", "unknown") else value
