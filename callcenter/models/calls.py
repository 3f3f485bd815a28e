"""Every call Asterisk hands us: the routing decision, then what happened in the queue."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base, str_enum
from callcenter.models.customers import Customer
from callcenter.models.lines import Line


class CallStatus(str, enum.Enum):
    ROUTING = "routing"          # AGI has the call
    ROUTED = "routed"            # a route was sent back to Asterisk
    QUEUED = "queued"            # QueueCallerJoin seen
    RINGING = "ringing"          # an agent's phone rings
    ANSWERED = "answered"        # AgentConnect
    COMPLETED = "completed"      # answered and hung up
    ABANDONED = "abandoned"      # left the queue unanswered (hung up or timed out)
    AFTER_HOURS = "after_hours"  # sent to voicemail / callback request
    HUNG_UP = "hung_up"          # caller hung up before reaching a queue (IVR, routing)


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        # Repeat-caller check on every routed call: calls from this number since T.
        Index("ix_calls_caller_e164_started_at", "caller_e164", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # Stays the same across transfers: the screen-pop and the ticket key on it.
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id"), index=True)
    dialled_number: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    caller_number: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    caller_e164: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    caller_name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)

    # Routing decision (FastAGI route_call + IVR).
    ivr_path: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    queue: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    route_reason: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # The call's one key from the dialplan (CC_POP_KEY) to the agent's browser. Never
    # searched by: no index (one less to write on every call).
    screen_pop_key: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    status: Mapped[CallStatus] = mapped_column(
        str_enum(CallStatus, "call_status"), nullable=False, default=CallStatus.ROUTING
    )

    # What the queue did (AMI listener).
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    routed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    queued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    answered_by_interface: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    answered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    # "caller" / "agent" (AgentComplete Reason) or "caller" for an abandon.
    hangup_side: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    hangup_cause: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    abandoned: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recording_file: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # Raised while waiting (queue aging or a supervisor's hand); ``priority`` keeps the
    # route's own, so reports still know the caller's tier.
    aged_priority: Mapped[int | None] = mapped_column(Integer)
    aged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # MixMonitor's r()/t() side files (the caller alone, the agent alone) for transcription,
    # named after recording_file (callcenter/services/calls/recording_names.py).
    recording_caller_file: Mapped[str] = mapped_column(String(255), nullable=False, default="",
                                                       server_default="")
    recording_agent_file: Mapped[str] = mapped_column(String(255), nullable=False, default="",
                                                      server_default="")
    # Set when retention removed the files (callcenter recordings purge).
    recording_purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    line: Mapped[Line | None] = relationship()
    customer: Mapped[Customer | None] = relationship()
    agent_legs: Mapped[list[CallAgentLeg]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallAgentLeg.id"
    )


class CallAgentLeg(Base):
    """One agent's phone rung for a call (AgentCalled) and how it ended."""

    __tablename__ = "call_agent_legs"
    __table_args__ = (
        UniqueConstraint("call_id", "dest_uniqueid", name="uq_call_agent_legs_call_dest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    dest_uniqueid: Mapped[str] = mapped_column(String(64), nullable=False)
    interface: Mapped[str] = mapped_column(String(80), nullable=False)
    member_name: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    queue: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    called_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # connected / ringnoanswer / cancelled
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    ring_ms: Mapped[int | None] = mapped_column(Integer)

    call: Mapped[Call] = relationship(back_populates="agent_legs")


class CallbackReason(str, enum.Enum):
    ABANDONED = "abandoned"
    AFTER_HOURS = "after_hours"
    VOICEMAIL = "voicemail"
    ROUTE_FAILED = "route_failed"


class CallbackStatus(str, enum.Enum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class CallbackTask(Base):
    """不漏接一个电话: a call nobody answered becomes a task to call back (回电).

    One open task per number: a caller who misses again adds to it (``miss_count``,
    ``last_missed_at``, a higher ``priority``); every missed call is a ``CallbackMiss``
    and every time an agent calls back a ``CallbackAttempt``
    (:mod:`callcenter.models.callbacks`). Tasks without a number (a withheld caller
    who left a message) are never merged.
    """

    __tablename__ = "callback_tasks"
    __table_args__ = (
        UniqueConstraint("call_id", "reason", name="uq_callback_tasks_call_reason"),
        # Two missed calls of one number filed at the same instant (the AMI listener and
        # the FastAGI after-hours route) cannot both open a task.
        Index("uq_callback_tasks_open_number", "number", unique=True,
              sqlite_where=text("status = 'open' AND number != ''"),
              postgresql_where=text("status = 'open' AND number != ''")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    number: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[CallbackReason] = mapped_column(str_enum(CallbackReason, "callback_reason"), nullable=False)
    status: Mapped[CallbackStatus] = mapped_column(
        str_enum(CallbackStatus, "callback_status"), nullable=False, default=CallbackStatus.OPEN, index=True
    )
    # Voicemail / message file the caller left, when any.
    message_file: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Repeat misses of the number (1 = the first call only) and the last of them.
    miss_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    last_missed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Higher is called back first; each repeat miss raises it.
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The outcome that closed the task or of its last attempt (labels.CALLBACK_OUTCOMES).
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="", server_default="")

    call: Mapped[Call | None] = relationship()
    customer: Mapped[Customer | None] = relationship()


class CdrCursor(Base):
    """How far Asterisk's CDR file (cdr-custom/callcenter.csv) has been read: the file's
    identity (inode) and the byte offset of the first line not applied yet."""

    __tablename__ = "cdr_cursors"

    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    inode: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    offset: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
