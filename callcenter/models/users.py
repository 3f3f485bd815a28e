"""People who sign in to the panel, and what an agent is doing right now."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import utcnow
from callcenter.models.base import Base, TimestampMixin, str_enum


class Role(str, enum.Enum):
    AGENT = "agent"
    QA = "qa"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # The agent's usual phone, e.g. PJSIP/agent1001; the console can override it per sign-in.
    default_interface: Mapped[str | None] = mapped_column(String(80))
    # Escalation chain: a supervisor's manager (deputy general manager) and so on.
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Every panel session carries the version it was opened with: signing out, a
    # password reset or deactivating the user moves it and ends every session at once.
    session_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")

    manager: Mapped[User | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role.value}>"


class AgentStatus(str, enum.Enum):
    OFFLINE = "offline"
    READY = "ready"
    PAUSED = "paused"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class AgentState(Base):
    """Where an agent sits and what state AMI last reported for that interface."""

    __tablename__ = "agent_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    interface: Mapped[str | None] = mapped_column(String(80), index=True)
    status: Mapped[AgentStatus] = mapped_column(
        str_enum(AgentStatus, "agent_status"), nullable=False, default=AgentStatus.OFFLINE
    )
    pause_reason: Mapped[str | None] = mapped_column(String(80))
    # Queues the agent is a member of, comma separated (AMI QueueAdd/QueueRemove).
    queues: Mapped[str] = mapped_column(Text, nullable=False, default="")
    current_linkedid: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    user: Mapped[User] = relationship()
