"""What the agent console does to a live call: transfers (every leg kept on the call
record) and the wrap-up (disposition) code chosen for each call, from a list admins edit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base
from callcenter.models.calls import Call


class CallTransfer(Base):
    """One transfer of a call by an agent: to another agent, a queue or an outside number.
    The ticket's first owner (首问负责制) does not change with it."""

    __tablename__ = "call_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_interface: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    # blind / attended
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="blind")
    # agent / queue / number
    target_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = mapped_column(String(80), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    message: Mapped[str] = mapped_column(String(200), nullable=False, default="")

    call: Mapped[Call] = relationship()


class WrapUpCode(Base):
    """A disposition an agent picks after a call (已解决, 转工单, 骚扰电话 …)."""

    __tablename__ = "wrapup_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    label: Mapped[str] = mapped_column(String(64), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    sort: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class CallWrapUp(Base):
    """The wrap-up code an agent chose for a call (one per agent and call; choosing again
    replaces it)."""

    __tablename__ = "call_wrapups"
    __table_args__ = (UniqueConstraint("call_id", "user_id", name="uq_call_wrapups_call_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    code_id: Mapped[int] = mapped_column(ForeignKey("wrapup_codes.id"), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    code: Mapped[WrapUpCode] = relationship()
