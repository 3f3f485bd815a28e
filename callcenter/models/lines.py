"""Hotline numbers, the Asterisk queues behind them, and the business calendar."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import uuid

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
    event,
    insert,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from callcenter.db import utcnow
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
    # Fair queues: an ordinary caller waiting this long is raised to this priority (AMI
    # QueueChangePriorityCaller). None: the settings queue_aging_after_s / priority_raised.
    aging_after_s: Mapped[int | None] = mapped_column(Integer)
    aging_priority: Mapped[int | None] = mapped_column(Integer)


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


class ConfigVersion(Base):
    """A single row whose token changes with every change to the routing configuration
    (queues, lines, hours, calendar overrides, duty shifts).

    Every process caches that configuration and compares this token on each call: one
    primary-key read instead of five table reads, and a change committed anywhere is
    seen by every FastAGI server at its next call.
    """

    __tablename__ = "config_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32), nullable=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


CONFIG_VERSION_ID = 1
VERSIONED_MODELS = (Queue, Line, BusinessHours, CalendarOverride, DutyShift)


def bump_config_version(session: Session) -> str:
    """Give the configuration a new token inside the session's transaction."""
    token = uuid.uuid4().hex
    table = ConfigVersion.__table__
    connection = session.connection()
    now = utcnow()
    result = connection.execute(
        update(table).where(table.c.id == CONFIG_VERSION_ID).values(token=token, changed_at=now)
    )
    if result.rowcount == 0:
        connection.execute(insert(table).values(id=CONFIG_VERSION_ID, token=token, changed_at=now))
    return token


@event.listens_for(Session, "before_flush")
def _bump_on_flush(session: Session, _context, _instances) -> None:
    # Whoever changes the configuration through the ORM (services, the web panel, tests)
    # moves the token in the same transaction: caches can never miss a committed change.
    changed = itertools.chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, VERSIONED_MODELS) for obj in changed):
        bump_config_version(session)


@event.listens_for(Session, "do_orm_execute")
def _bump_on_bulk_statement(state) -> None:
    # session.execute(update(Line)...) / delete(...) bypass the flush.
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and issubclass(state.bind_mapper.class_, VERSIONED_MODELS):
        bump_config_version(state.session)
