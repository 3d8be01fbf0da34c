"""Database plumbing shared by the log, the anchorer and the node (one metadata, one engine)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

READONLY_OPTION = "archive_ledger_readonly"


class Base(DeclarativeBase):
    """Declarative base for every table of the node (anchor's and node's models alike)."""


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and write-locking transactions.

    SQLite's default deferred transactions fail with "database is locked" when two writers upgrade
    at once; BEGIN IMMEDIATE takes the write lock up front so appends to a log serialise instead.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            readonly = conn.get_execution_options().get(READONLY_OPTION, False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def make_session_factory(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions for writing (the default) or for reading only.

    Read-only sessions begin a deferred SQLite transaction: under WAL they read a snapshot without
    waiting for (or blocking) a writer, so proofs and listings never queue behind an ingest."""
    bind = engine.execution_options(**{READONLY_OPTION: True}) if readonly else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
