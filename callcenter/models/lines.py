"""Hotline numbers, the Asterisk queues behind them, and the business calendar."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin, str_enum


class QueueKind(str, enum.Enum):
    VIP = "vip"
    GENERAL = "general"
    DUTY = "duty"


class Queue(TimestampMixin, Base):
    """An Asterisk queue (queues.conf section name) the router may choose."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[QueueKind] = mapped_column(str_enum(QueueKind, "queue_kind"), nullable=False)
    description: Mapped[str] = mapped_column(String(255), nullable=False, default="")


class LineKind(str, enum.Enum):
    VIP = "vip"
    ORDINARY = "ordinary"


class Line(TimestampMixin, Base):
    """A hotline number callers dial (DID), e.g. 4008002000 → VIP line."""

    __tablename__ = "lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Digits only, as Asterisk presents the dialled number (agi_extension / agi_dnid).
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    kind: Mapped[LineKind] = mapped_column(str_enum(LineKind, "line_kind"), nullable=False)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), nullable=False)
    # Duty queue used outside business hours when someone is on duty (节假日值班).
    duty_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    # Name of a flow in ivr_flows/ (file stem); empty = straight to the queue.
    ivr_flow: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    queue: Mapped[Queue] = relationship(foreign_keys=[queue_id])
    duty_queue: Mapped[Queue | None] = relationship(foreign_keys=[duty_queue_id])
    hours: Mapped[list[BusinessHours]] = relationship(
        back_populates="line", cascade="all, delete-orphan", order_by="BusinessHours.weekday"
    )


class BusinessHours(Base):
    """Opening hours of a line on one weekday (0 = Monday), local time.

    A line without rows uses the rows whose line_id is NULL (the site default).
    Swapped working days (调休) use the hours of ``workday_weekday``: by default Monday's.
    """

    __tablename__ = "business_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        UniqueConstraint("line_id", "weekday", "opens", name="uq_business_hours_line_weekday_opens"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer, nullable=False)
    opens: Mapped[dt.time] = mapped_column(Time, nullable=False)
    closes: Mapped[dt.time] = mapped_column(Time, nullable=False)

    line: Mapped[Line | None] = relationship(back_populates="hours")


class DayKind(str, enum.Enum):
    HOLIDAY = "holiday"
    WORKDAY = "workday"


class CalendarOverride(Base):
    """A local exception to China's national calendar (chinese-calendar).

    ``holiday``: closed although the nation works (company anniversary, typhoon day);
    ``workday``: open although it is a weekend or holiday (an extra 调休 day).
    line_id NULL applies to every line.
    """

    __tablename__ = "calendar_overrides"
    __table_args__ = (UniqueConstraint("day", "line_id", name="uq_calendar_overrides_day_line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    kind: Mapped[DayKind] = mapped_column(str_enum(DayKind, "day_kind"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"))


class DutyShift(Base):
    """Someone staffs the duty queue between these instants (stored UTC)."""

    __tablename__ = "duty_shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), nullable=False)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")

    queue: Mapped[Queue] = relationship()
