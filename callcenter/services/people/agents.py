"""What each agent is doing, from the facts Asterisk reports about their phone.

States (``AgentStatus``): offline, ready, paused (with a reason), ringing, on_call,
wrap_up. They are keyed by the queue member interface (``PJSIP/agent1001``): the agent's
``AgentState.interface`` (set when they sign in to the console), else the user whose
``default_interface`` it is (the row is then created).

Rules (what moves an agent, strongest first):
- ringing: AgentCalled, or a member status of 6/7 (ringing) - unless already on a call;
- on_call: AgentConnect, or a member status of 2/3/8 (in use, busy, on hold);
- wrap_up: after AgentComplete. It lasts until the agent says they are ready (the panel
  sends ``QueuePause`` with ``paused: false``; Asterisk answers with a QueueMemberPause
  ``Paused: 0`` even when the member was not paused, and that ends wrap-up), until the
  queue's ``Wrapuptime`` has passed (the listener ends it then), or until Asterisk
  offers the next call (AgentCalled - with ``wrapuptime = 0`` Asterisk does not wait,
  so wrap-up in our panel never holds calls back by itself; set ``wrapuptime`` in
  queues.conf or pause to get undisturbed after-call work);
- paused: the member is paused (reason kept; ``Auto-Pause`` after a ring-no-answer with
  ``autopause``); a pause during a call shows after the call ends, instead of wrap-up;
- offline: device unavailable/invalid, or a member of no queue any more;
- ready: otherwise.
A member fact "not in use" (status 1) right after AgentComplete does not end wrap-up.
Pause facts are per queue; the last one reported wins (the panel pauses all queues at
once). Reconciliation (``sync_members``) counts an agent as paused only when every queue
they belong to has them paused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import AgentState, AgentStatus, User

DEVICE_TEXT = {0: "unknown", 1: "not_in_use", 2: "in_use", 3: "busy", 4: "invalid", 5: "unavailable",
               6: "ringing", 7: "ringinuse", 8: "onhold"}
_RINGING = frozenset({6, 7})
_BUSY = frozenset({2, 3, 8})
_GONE = frozenset({4, 5})


@dataclass(frozen=True)
class MemberFact:
    """One queue member as QueueMemberStatus/Pause/Added/Removed or QueueStatus reports it."""

    interface: str
    queue: str = ""
    member_name: str = ""
    device_status: int | None = None
    paused: bool | None = None
    reason: str = ""
    in_call: bool = False
    wrapuptime: int = 0


@dataclass
class AgentUpdate:
    interface: str
    user_id: int | None = None
    status: AgentStatus | None = None
    pause_reason: str | None = None
    queues: list[str] = field(default_factory=list)
    linkedid: str = ""
    changed: bool = False

    def payload(self, fact: MemberFact | None = None, **extra: Any) -> dict[str, Any]:
        """The ``member_state`` message the console gets on the ``agent`` topic."""
        data: dict[str, Any] = {
            "type": "member_state", "interface": self.interface, "linkedid": self.linkedid,
            "user_id": self.user_id, "status": self.status.value if self.status else None,
            "paused": self.pause_reason is not None, "reason": self.pause_reason or "",
            "queues": self.queues,
        }
        if fact is not None:
            data.update(queue=fact.queue, member_name=fact.member_name,
                        device_status=DEVICE_TEXT.get(fact.device_status, "")
                        if fact.device_status is not None else "")
            if self.status is None:
                # No agent sits at this interface: report the member as Asterisk does.
                data.update(paused=bool(fact.paused), reason=fact.reason if fact.paused else "")
        data.update(extra)
        return data


# --- lookup ------------------------------------------------------------------------------
def user_id_for_interface(session: Session, interface: str) -> int | None:
    if not interface:
        return None
    user_id = session.scalar(select(AgentState.user_id).where(AgentState.interface == interface)
                             .order_by(AgentState.updated_at.desc()).limit(1))
    if user_id is None:
        user_id = session.scalar(select(User.id).where(User.default_interface == interface,
                                                       User.active.is_(True)).order_by(User.id).limit(1))
    return user_id


def ensure_state(session: Session, user_id: int, interface: str | None) -> AgentState:
    """The agent's state row, created (offline, at ``interface``) when there is none yet.

    The console (an agent choosing a phone) and the AMI listener (Asterisk reporting the
    member at that agent's default phone) can both find no row and create it at the same
    moment. The insert runs in a savepoint: the one that loses the race reads the row the
    other committed instead of failing the agent's request."""
    state = session.get(AgentState, user_id)
    if state is not None:
        return state
    try:
        with session.begin_nested():
            state = AgentState(user_id=user_id, interface=interface, status=AgentStatus.OFFLINE, queues="")
            session.add(state)
    except IntegrityError:
        state = session.get(AgentState, user_id)
        if state is None:
            raise
    return state


def state_for_interface(session: Session, interface: str) -> AgentState | None:
    """The agent sitting at ``interface``; created for the user whose default phone it is
    when they have no state row yet. None when no agent uses that interface."""
    state = session.scalar(select(AgentState).where(AgentState.interface == interface)
                           .order_by(AgentState.updated_at.desc()).limit(1))
    if state is not None:
        return state
    user_id = session.scalar(select(User.id).where(User.default_interface == interface,
                                                   User.active.is_(True)).order_by(User.id).limit(1))
    if user_id is None:
        return None
    state = session.get(AgentState, user_id)
    if state is None:
        return ensure_state(session, user_id, interface)
    if state.interface is None:
        state.interface = interface
        return state
    return None  # signed in at another phone: this interface is not theirs now


def _queues(state: AgentState) -> list[str]:
    return [q for q in state.queues.split(",") if q]


def _update(state: AgentState | None, interface: str, changed: bool) -> AgentUpdate:
    if state is None:
        return AgentUpdate(interface=interface)
    if changed:
        state.updated_at = utcnow()
    return AgentUpdate(interface=interface, user_id=state.user_id, status=state.status,
                       pause_reason=state.pause_reason, queues=_queues(state),
                       linkedid=state.current_linkedid or "", changed=changed)


def _set(state: AgentState, **values: Any) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(state, key) != value:
            setattr(state, key, value)
            changed = True
    return changed


def _base(state: AgentState) -> AgentStatus:
    return AgentStatus.PAUSED if state.pause_reason is not None else AgentStatus.READY


# --- facts from queue events -----------------------------------------------------------------
def member_reported(session: Session, fact: MemberFact, kind: str) -> AgentUpdate:
    """QueueMemberStatus (``kind="status"``), QueueMemberPause (``"pause"``),
    QueueMemberAdded (``"added"``) or QueueMemberRemoved (``"removed"``)."""
    state = state_for_interface(session, fact.interface)
    if state is None:
        return AgentUpdate(interface=fact.interface)
    queues = _queues(state)
    if kind == "removed":
        queues = [q for q in queues if q != fact.queue]
    elif fact.queue and fact.queue not in queues:
        queues.append(fact.queue)
    values: dict[str, Any] = {"queues": ",".join(queues)}
    if fact.paused is not None and kind != "removed":
        values["pause_reason"] = (fact.reason or "") if fact.paused else None
    changed = _set(state, **values)
    device = fact.device_status
    current = state.status
    if kind == "removed" and not queues:
        new, linked = AgentStatus.OFFLINE, None
        changed |= _set(state, pause_reason=None)
    elif device in _RINGING:
        new, linked = (current if current == AgentStatus.ON_CALL else AgentStatus.RINGING), state.current_linkedid
    elif device in _BUSY or fact.in_call:
        new, linked = AgentStatus.ON_CALL, state.current_linkedid
    elif device in _GONE:
        new, linked = AgentStatus.OFFLINE, None
    elif current == AgentStatus.WRAP_UP and not (kind == "pause" and fact.paused is False):
        new, linked = (_base(state) if state.pause_reason is not None else AgentStatus.WRAP_UP), \
            state.current_linkedid
    else:
        new, linked = _base(state), None
    changed |= _set(state, status=new, current_linkedid=linked)
    return _update(state, fact.interface, changed)


def agent_ringing(session: Session, interface: str, linkedid: str) -> AgentUpdate:
    """AgentCalled. A new offer also ends wrap-up: Asterisk thinks the agent is free."""
    state = state_for_interface(session, interface)
    if state is None:
        return AgentUpdate(interface=interface)
    if state.status == AgentStatus.ON_CALL:
        return _update(state, interface, False)
    return _update(state, interface, _set(state, status=AgentStatus.RINGING, current_linkedid=linkedid))


def agent_answered(session: Session, interface: str, linkedid: str) -> AgentUpdate:
    """AgentConnect."""
    state = state_for_interface(session, interface)
    if state is None:
        return AgentUpdate(interface=interface)
    return _update(state, interface, _set(state, status=AgentStatus.ON_CALL, current_linkedid=linkedid))


def agent_finished(session: Session, interface: str, linkedid: str) -> AgentUpdate:
    """AgentComplete: wrap-up starts (or the pause asked for during the call)."""
    state = state_for_interface(session, interface)
    if state is None:
        return AgentUpdate(interface=interface)
    if state.current_linkedid not in (None, linkedid) and state.status in (AgentStatus.ON_CALL,
                                                                            AgentStatus.RINGING):
        # Already busy with another call (ringinuse): this one's end changes nothing.
        return _update(state, interface, False)
    new = AgentStatus.PAUSED if state.pause_reason is not None else AgentStatus.WRAP_UP
    return _update(state, interface, _set(state, status=new, current_linkedid=linkedid))


def ring_ended(session: Session, interface: str, linkedid: str) -> AgentUpdate:
    """AgentRingNoAnswer, or the caller gave up while this phone rang (DialEnd CANCEL)."""
    state = state_for_interface(session, interface)
    if state is None:
        return AgentUpdate(interface=interface)
    if state.status != AgentStatus.RINGING or state.current_linkedid not in (None, linkedid):
        return _update(state, interface, False)
    return _update(state, interface, _set(state, status=_base(state), current_linkedid=None))


def end_wrap_up(session: Session, interface: str) -> AgentUpdate:
    """Wrap-up is over (the agent said so, or the queue's wrapuptime passed)."""
    state = state_for_interface(session, interface)
    if state is None or state.status != AgentStatus.WRAP_UP:
        return _update(state, interface, False)
    return _update(state, interface, _set(state, status=_base(state), current_linkedid=None))


# --- reconciliation -------------------------------------------------------------------------------
def sync_members(session: Session, facts: Iterable[MemberFact]) -> list[AgentUpdate]:
    """Make agent states agree with a full QueueStatus member list (after a reconnect:
    pauses set or lost while we were away, dynamic members gone after a restart)."""
    by_interface: dict[str, list[MemberFact]] = {}
    for fact in facts:
        by_interface.setdefault(fact.interface, []).append(fact)
    updates: list[AgentUpdate] = []
    seen_users: set[int] = set()
    for interface, items in by_interface.items():
        state = state_for_interface(session, interface)
        if state is None:
            updates.append(AgentUpdate(interface=interface))
            continue
        seen_users.add(state.user_id)
        paused_all = all(bool(f.paused) for f in items)
        reason = next((f.reason for f in items if f.paused), "") if paused_all else None
        devices = {f.device_status for f in items if f.device_status is not None}
        changed = _set(state, queues=",".join(dict.fromkeys(f.queue for f in items if f.queue)),
                       pause_reason=reason)
        if devices & _RINGING and state.status != AgentStatus.ON_CALL:
            new = AgentStatus.RINGING
        elif devices & _BUSY or any(f.in_call for f in items):
            new = AgentStatus.ON_CALL
        elif devices and devices <= _GONE:
            new = AgentStatus.OFFLINE
        elif state.status == AgentStatus.WRAP_UP and reason is None:
            new = AgentStatus.WRAP_UP
        else:
            new = _base(state)
        linked = state.current_linkedid if new in (AgentStatus.RINGING, AgentStatus.ON_CALL,
                                                    AgentStatus.WRAP_UP) else None
        changed |= _set(state, status=new, current_linkedid=linked)
        updates.append(_update(state, interface, changed))
    stale = session.scalars(select(AgentState).where(AgentState.interface.is_not(None)))
    for state in stale:
        if state.user_id in seen_users or (state.status == AgentStatus.OFFLINE and not state.queues):
            continue
        changed = _set(state, queues="", status=AgentStatus.OFFLINE, pause_reason=None, current_linkedid=None)
        updates.append(_update(state, state.interface or "", changed))
    return updates
