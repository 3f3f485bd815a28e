"""What happened to a callback task (回电): the missed calls it gathers and the calls
back an agent made, each with its outcome."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base
from callcenter.models.calls import CallbackTask


class CallbackMiss(Base):
    """One call nobody answered, filed under its number's open task."""

    __tablename__ = "callback_misses"
    # A call is filed once per task: a repeated event or a retried AGI request finds this
    # row. (A call whose task was closed meanwhile may open a new task.)
    __table_args__ = (UniqueConstraint("task_id", "call_id", name="uq_callback_misses_task_call"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)  # CallbackReason value
    missed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    message_file: Mapped[str] = mapped_column(String(255), nullable=False, default="")

    task: Mapped[CallbackTask] = relationship()


class CallbackAttempt(Base):
    """One call back: the agent's phone is rung first (AMI Originate), then the customer."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    interface: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # The panel request (ami.action) that rang the phones; its action_result finds the row.
    request_id: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    # dialing / connected (the agent answered and the customer is being rung) / failed;
    # "" for an attempt logged without click-to-dial (dialled by hand).
    dial_status: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    dial_message: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    uniqueid: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    recording_file: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="")  # labels.CALLBACK_OUTCOMES
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    logged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    task: Mapped[CallbackTask] = relationship()
