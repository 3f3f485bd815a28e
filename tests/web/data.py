"""Rows for web tests: a VIP line, a customer with history, a ringing call."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from callcenter.db import utcnow
from callcenter.models import (
    Call,
    CallAgentLeg,
    CallStatus,
    Customer,
    CustomerPhone,
    Line,
    LineKind,
    Queue,
    QueueKind,
    Ticket,
    TicketStatus,
    TicketType,
    Tier,
)

_numbers = itertools.count(1)


def vip_line(s: Session) -> Line:
    queue = Queue(name="vip", kind=QueueKind.VIP)
    s.add(queue)
    s.flush()
    line = Line(number="4008002000", name="VIP客户专线", kind=LineKind.VIP, queue_id=queue.id)
    s.add(line)
    s.flush()
    return line


def customer(s: Session, name: str = "王秀英", number: str = "+8613800138000", tier: Tier = Tier.VIP,
             **fields) -> Customer:
    c = Customer(name=name, tier=tier, area=fields.pop("area", "阳光花园"), building=fields.pop("building", "3"),
                 unit=fields.pop("unit", "2"), room=fields.pop("room", "501"), **fields)
    c.phones.append(CustomerPhone(e164=number, raw=number, label="手机"))
    s.add(c)
    s.flush()
    return c


def call(s: Session, linkedid: str, *, line: Line | None = None, customer_id: int | None = None,
         number: str = "13800138000", e164: str = "+8613800138000", name: str = "",
         status: CallStatus = CallStatus.RINGING, ivr_path: list | None = None, category: str = "",
         started_at: dt.datetime | None = None, queue: str = "vip", **extra) -> Call:
    c = Call(uniqueid=f"{linkedid}.{next(_numbers)}" if extra.pop("leg", False) else linkedid, linkedid=linkedid,
             line_id=line.id if line else None, dialled_number=line.number if line else "",
             caller_number=number, caller_e164=e164, caller_name=name, customer_id=customer_id,
             ivr_path=ivr_path or [], category=category, queue=queue, status=status,
             started_at=started_at or utcnow(), **extra)
    s.add(c)
    s.flush()
    return c


def ring(s: Session, c: Call, interface: str, outcome: str = "") -> CallAgentLeg:
    leg = CallAgentLeg(call_id=c.id, dest_uniqueid=f"{c.uniqueid}-{interface}", interface=interface,
                       queue=c.queue, called_at=utcnow(), outcome=outcome)
    s.add(leg)
    s.flush()
    return leg


def ticket(s: Session, owner_id: int, customer_id: int | None, subject: str, *,
           type: TicketType = TicketType.REPAIR, status: TicketStatus = TicketStatus.OPEN,
           resolution: str = "", created_at: dt.datetime | None = None) -> Ticket:
    t = Ticket(number=f"GD20261122-{next(_numbers):04d}", type=type, status=status, customer_id=customer_id,
               owner_id=owner_id, subject=subject, resolution=resolution, created_at=created_at or utcnow())
    s.add(t)
    s.flush()
    return t
