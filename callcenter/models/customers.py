"""Customers (客户/业主) and the phone numbers they call from."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin, str_enum


class Tier(str, enum.Enum):
    VIP = "vip"
    MEMBER = "member"
    ORDINARY = "ordinary"


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    tier: Mapped[Tier] = mapped_column(str_enum(Tier, "tier"), nullable=False, default=Tier.ORDINARY)
    # 重要业户: complaints from important occupants go straight to the manager.
    important: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Property address: area / building - unit - room, plus a free-form line.
    area: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    building: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    unit: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    room: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    address: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Set by the importer so re-importing the same file updates instead of duplicating.
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerPhone.id"
    )

    @property
    def unit_address(self) -> str:
        """Building-unit-room as the property business writes it: 3栋-2单元-501."""
        parts = [
            f"{self.building}栋" if self.building else "",
            f"{self.unit}单元" if self.unit else "",
            self.room,
        ]
        return "-".join(p for p in parts if p)

    def __repr__(self) -> str:
        return f"<Customer {self.id} {self.name} {self.tier.value}>"


class CustomerPhone(Base):
    """One number a customer calls from, stored normalised (E.164) for matching."""

    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("customer_id", "e164", name="uq_customer_phones_customer_e164"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # Not unique: a household landline can belong to several customers.
    e164: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    raw: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    label: Mapped[str] = mapped_column(String(32), nullable=False, default="")

    customer: Mapped[Customer] = relationship(back_populates="phones")
