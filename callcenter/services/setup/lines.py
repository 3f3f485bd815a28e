"""Hotlines and queues: adding, changing and removing them (the admin CLI and panel).

Input errors are ``LineError`` with a message shown to the admin as is. Every change
moves the configuration token, so the next call routes by it
(``callcenter.services.setup.routing_config``).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import (
    Call,
    DutyShift,
    Line,
    LineKind,
    Queue,
    QueueKind,
)


class LineError(ValueError):
    """Invalid configuration input; the message is shown to the admin as is."""


# --- queues ----------------------------------------------------------------------------

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def add_queue(session: Session, name: str, kind: str, description: str = "") -> Queue:
    name = name.strip()
    if not QUEUE_NAME.match(name):
        raise LineError(f"queue name {name!r}: use letters, digits, _ or - (as in queues.conf)")
    if name == "general":
        raise LineError("'general' is reserved in queues.conf; call the queue e.g. general_q")
    kind = choice(QueueKind, kind, "queue kind")
    if find_queue(session, name, required=False) is not None:
        raise LineError(f"queue {name!r} already exists")
    queue = Queue(name=name, kind=kind, description=description)
    session.add(queue)
    session.flush()
    return queue


def list_queues(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).order_by(Queue.name)))


def remove_queue(session: Session, name: str) -> None:
    queue = find_queue(session, name)
    users = session.scalars(select(Line.number).where(
        (Line.queue_id == queue.id) | (Line.duty_queue_id == queue.id))).all()
    if users:
        raise LineError(f"queue {name!r} is used by line(s) {', '.join(users)}; change them first")
    shifts = session.scalar(select(func.count()).select_from(DutyShift).where(DutyShift.queue_id == queue.id))
    if shifts:
        raise LineError(f"queue {name!r} has {shifts} duty shift(s); remove them first")
    session.delete(queue)
    session.flush()


def find_queue(session: Session, name: str, *, required: bool = True) -> Queue | None:
    queue = session.scalar(select(Queue).where(Queue.name == name.strip()))
    if queue is None and required:
        known = ", ".join(session.scalars(select(Queue.name).order_by(Queue.name))) or "none yet"
        raise LineError(f"unknown queue {name!r} (known: {known}); add it with 'callcenter queue add'")
    return queue


# --- lines ------------------------------------------------------------------------------

LINE_NUMBER = re.compile(r"^[0-9]{2,32}$")
FLOW_NAME = re.compile(r"^[A-Za-z0-9_\-]{0,64}$")


def add_line(session: Session, number: str, *, kind: str, queue: str, name: str = "",
             duty_queue: str | None = None, ivr_flow: str = "") -> Line:
    number = _line_number(number)
    if session.scalar(select(Line.id).where(Line.number == number)) is not None:
        raise LineError(f"line {number} already exists; change it with 'callcenter line set'")
    line = Line(number=number, name=name, kind=choice(LineKind, kind, "line kind"),
                queue=find_queue(session, queue), ivr_flow=_flow_name(ivr_flow),
                duty_queue=find_queue(session, duty_queue) if duty_queue else None)
    session.add(line)
    session.flush()
    return line


def update_line(session: Session, number: str, *, name: str | None = None, kind: str | None = None,
                queue: str | None = None, duty_queue: str | None = None, clear_duty_queue: bool = False,
                ivr_flow: str | None = None, active: bool | None = None) -> Line:
    line = get_line(session, number)
    if name is not None:
        line.name = name
    if kind is not None:
        line.kind = choice(LineKind, kind, "line kind")
    if queue is not None:
        line.queue = find_queue(session, queue)
    if clear_duty_queue:
        line.duty_queue = None
    elif duty_queue is not None:
        line.duty_queue = find_queue(session, duty_queue)
    if ivr_flow is not None:
        line.ivr_flow = _flow_name(ivr_flow)
    if active is not None:
        line.active = active
    session.flush()
    return line


def remove_line(session: Session, number: str) -> str:
    """Delete a line; one that calls refer to is deactivated instead (history stays).
    Returns "deleted" or "deactivated"."""
    line = get_line(session, number)
    if session.scalar(select(Call.id).where(Call.line_id == line.id).limit(1)) is not None:
        line.active = False
        session.flush()
        return "deactivated"
    session.delete(line)
    session.flush()
    return "deleted"


def get_line(session: Session, number: str) -> Line:
    number = _line_number(number)
    line = session.scalar(select(Line).where(Line.number == number))
    if line is None:
        raise LineError(f"unknown line {number}")
    return line


def list_lines(session: Session) -> list[Line]:
    return list(session.scalars(select(Line).order_by(Line.number)))


def missing_flow_file(settings, flow: str) -> Path | None:
    """The flow file a line names, when it does not exist (a warning, not an error:
    flows may be deployed after the line is configured)."""
    if not flow:
        return None
    directory = Path(settings.ivr_flows_dir)
    for suffix in (".yaml", ".yml"):
        if (directory / f"{flow}{suffix}").is_file():
            return None
    return directory / f"{flow}.yaml"


def _line_number(number: str) -> str:
    number = (number or "").strip()
    if not LINE_NUMBER.match(number):
        raise LineError(f"line number {number!r}: digits only, as Asterisk presents the dialled number")
    return number


def _flow_name(flow: str) -> str:
    flow = (flow or "").strip()
    if not FLOW_NAME.match(flow):
        raise LineError(f"IVR flow {flow!r}: the file name in ivr_flows/ without .yaml")
    return flow


def choice(enum_cls, value: str, what: str):
    try:
        return enum_cls((value or "").strip().lower())
    except ValueError:
        raise LineError(f"unknown {what} {value!r}; choose one of {[m.value for m in enum_cls]}") from None
