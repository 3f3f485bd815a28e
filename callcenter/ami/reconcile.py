"""Catching up after the AMI connection was down (or the listener was not running).

Events that happened while nobody listened are gone: Asterisk does not replay them.
What AMI can still tell after a (re)connect is the present:
- ``CoreShowChannels``: every live channel (uniqueid, linkedid, bridge);
- ``QueueStatus``: callers waiting (``QueueEntry``) and every member with its device
  status and pause (``QueueMember``, which says ``Name``/``Location`` where the member
  events say ``MemberName``/``Interface``).

From that snapshot:
- an open call whose channel (uniqueid or linkedid) is still there stays open; if it
  sits in a bridge with another channel of the same call and is no longer queued, it
  was answered meanwhile and is marked so (answering interface = that channel's name
  without its ``-0000001a`` suffix);
- an open call whose channels are all gone is closed: ``ended_at`` = snapshot time,
  ``hangup_cause = "lost_during_ami_outage"``; one that was still waiting for an agent is
  abandoned and gets its callback task; an answered one is completed;
- calls touched by an event since the reconnect, and calls whose row is younger than
  ``grace`` (another host's clock, an AGI that just created it), are left alone;
- agent states are refreshed from the member list (pauses lost in a restart, members
  removed, a phone unplugged).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from callcenter.ami.protocol import Message
from callcenter.config import Settings
from callcenter.services.calls import calltrack
from callcenter.services.people import agents

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(;\d+)?$")


@dataclass(frozen=True)
class LiveChannel:
    channel: str
    uniqueid: str
    linkedid: str
    bridge_id: str = ""


@dataclass
class Snapshot:
    taken_at: dt.datetime
    channels: list[LiveChannel] = field(default_factory=list)
    waiting: set[str] = field(default_factory=set)  # uniqueids in a QueueEntry
    members: list[agents.MemberFact] = field(default_factory=list)

    @classmethod
    def from_lists(cls, taken_at: dt.datetime, channels: Iterable[Message],
                   queue_status: Iterable[Message]) -> Snapshot:
        snap = cls(taken_at)
        for item in channels:
            if item.event == "CoreShowChannel" and item.get("Uniqueid"):
                snap.channels.append(LiveChannel(item.get("Channel"), item.get("Uniqueid"),
                                                 item.get("Linkedid") or item.get("Uniqueid"),
                                                 item.get("BridgeId")))
        for item in queue_status:
            if item.event == "QueueEntry" and item.get("Uniqueid"):
                snap.waiting.add(item.get("Uniqueid"))
            elif item.event == "QueueMember" and item.get("Location"):
                snap.members.append(member_fact(item, interface_key="Location", name_key="Name"))
        return snap


def member_fact(msg: Message, *, interface_key: str = "Interface", name_key: str = "MemberName") -> agents.MemberFact:
    """A member as an event (Interface/MemberName) or a QueueStatus item (Location/Name)."""
    def number(key: str) -> int | None:
        try:
            return int(msg.get(key))
        except ValueError:
            return None

    paused = number("Paused")
    return agents.MemberFact(
        interface=msg.get(interface_key), queue=msg.get("Queue"), member_name=msg.get(name_key),
        device_status=number("Status"), paused=None if paused is None else bool(paused),
        reason=msg.get("PausedReason"), in_call=number("InCall") == 1, wrapuptime=number("Wrapuptime") or 0)


def interface_of(channel: str) -> str:
    """``PJSIP/agent1001-0000000e`` → ``PJSIP/agent1001``."""
    return _CHANNEL_SUFFIX.sub("", channel)


@dataclass
class ReconcileReport:
    kept: list[int] = field(default_factory=list)
    closed: list[calltrack.Change] = field(default_factory=list)
    answered: list[calltrack.Change] = field(default_factory=list)
    agents: list[agents.AgentUpdate] = field(default_factory=list)


def reconcile(session: Session, snap: Snapshot, *, seen: set[str], callback_due: dt.timedelta,
              grace: dt.timedelta = dt.timedelta(seconds=5), settings: Settings | None = None) -> ReconcileReport:
    report = ReconcileReport()
    live_ids = {c.uniqueid for c in snap.channels} | {c.linkedid for c in snap.channels}
    for call in calltrack.open_calls(session, started_before=snap.taken_at - grace):
        if call.uniqueid in seen or call.linkedid in seen:
            report.kept.append(call.id)
            continue
        if call.uniqueid in live_ids or call.linkedid in live_ids:
            report.kept.append(call.id)
            agent = _bridged_agent(snap, call.uniqueid, call.linkedid)
            if agent and call.uniqueid not in snap.waiting and call.answered_at is None:
                report.answered.append(calltrack.answered_during_outage(
                    session, call, interface=interface_of(agent.channel), at=snap.taken_at))
            continue
        report.closed.append(calltrack.close_lost_call(session, call, at=snap.taken_at,
                                                       callback_due=callback_due, settings=settings))
    report.agents = agents.sync_members(session, snap.members)
    return report


def _bridged_agent(snap: Snapshot, uniqueid: str, linkedid: str) -> LiveChannel | None:
    caller = next((c for c in snap.channels if c.uniqueid == uniqueid), None)
    if caller is None or not caller.bridge_id:
        return None
    return next((c for c in snap.channels if c.bridge_id == caller.bridge_id and c.uniqueid != uniqueid
                 and c.linkedid == linkedid), None)
