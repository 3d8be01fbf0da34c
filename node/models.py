"""The node's own tables. They share anchor.db.Base, so one Alembic history covers everything."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from anchor.db import Base
from anchor.models import utcnow


class Item(Base):
    """An archived item (件): its file is a blob named by content_sha256; its record is a log leaf."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_dedupe", "fonds_code", "content_sha256", "source_path"),
        Index("ix_items_arrangement", "fonds_code", "category", "year"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fonds_code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(1000))
    category: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    retention: Mapped[str] = mapped_column(String(16))
    archival_code: Mapped[str | None] = mapped_column(String(128), unique=True)
    metadata_json: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(1000))
    source_path: Mapped[str] = mapped_column(String(2000), default="")
    log_pk: Mapped[int] = mapped_column(ForeignKey("logs.id"))
    leaf_index: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An integrator's API key; only its SHA-256 is stored (the key itself has 256 random bits)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
