"""Opening the approvals store: the database URL, the engine, and database faults as one-line errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from ..terminal import safe
from .errors import AuditMismatch, InvalidRequest, NoStore, StoreError
from .schema import HEAD, META, META_TABLE, SCHEMA_VERSION, TABLES, genesis, meta_value

URL_EXAMPLES = "e.g. sqlite:///approvals.db or postgresql+psycopg://user@host/dbname"


def parse_url(url) -> sa.engine.URL:
    text = str(url)
    try:
        return sa.engine.make_url(text)
    except sa.exc.ArgumentError:
        raise InvalidRequest(f"'{safe(text)[:80]}' is not a database URL ({URL_EXAMPLES})") from None


def shown_url(url: sa.engine.URL) -> str:
    return safe(url.render_as_string(hide_password=True))


def make_engine(url: sa.engine.URL) -> sa.Engine:
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return sa.create_engine(url, pool_pre_ping=True)
    except sa.exc.NoSuchModuleError:
        raise InvalidRequest(f"{shown_url(url)}: unknown kind of database '{safe(url.drivername)}' "
                             f"({URL_EXAMPLES})") from None
    except ImportError as exc:
        raise InvalidRequest(f"{shown_url(url)}: its database driver is not installed ({exc.name or exc})") from None


def _sqlite_engine(url: sa.engine.URL) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 60, "isolation_level": None})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout = 60000")
        try:
            dbapi_conn.execute("PRAGMA journal_mode = WAL")
        except Exception:  # a read-only file cannot switch modes; writes will say so
            pass

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # writers take the write lock up front (so they serialise); readers read a snapshot, also of a read-only file
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("agentops_read_only") else "BEGIN IMMEDIATE")

    return engine


def sqlite_exists(url: sa.engine.URL) -> None:
    """NoStore when a SQLite URL names no existing file (connecting would create one), or memory."""
    if url.get_backend_name() != "sqlite" or (url.database or "").startswith("file:"):
        return
    if not url.database or url.database == ":memory:":
        raise NoStore(f"no approvals store at {shown_url(url)} (an in-memory database starts empty)")
    if not Path(url.database).is_file():
        raise NoStore(f"no approvals store at {shown_url(url)} (no such file)")


def db_error(url: sa.engine.URL, exc: sa.exc.SQLAlchemyError) -> StoreError:
    """A database fault in one line: the driver's first line, never the SQL or its parameters."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else exc.__class__.__name__
    first = text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__
    return StoreError(f"approvals store {shown_url(url)}: {safe(first)}")


def open_store(conn, url: sa.engine.URL, create: bool) -> tuple[str, int]:
    """``(store_id, schema_version)`` of the store on ``conn``; with ``create``, a missing store is made."""
    present = set(sa.inspect(conn).get_table_names())
    if "approval_meta" not in present:
        if not create:
            raise NoStore(f"no approvals store at {shown_url(url)} (the database holds no approvals tables)")
        META.create_all(conn)
        store_id = uuid.uuid4().hex
        conn.execute(META_TABLE.insert(), [{"key": "schema_version", "value": str(SCHEMA_VERSION)},
                                           {"key": "store_id", "value": store_id}])
        conn.execute(HEAD.insert(), {"id": 1, "seq": 0, "hash": genesis(store_id)})
        return store_id, SCHEMA_VERSION
    missing = [t for t in TABLES if t not in present]
    if missing:
        raise AuditMismatch.of_store(f"table {', '.join(missing)} is missing")
    version_text = meta_value(conn, "schema_version")
    try:
        version = int(version_text)
    except (TypeError, ValueError):
        raise AuditMismatch.of_store(f"its schema version '{safe(version_text)}' is not a number") from None
    if version > SCHEMA_VERSION:
        raise StoreError(f"the approvals store {shown_url(url)} has schema version {version}, newer than this "
                         f"agentops-kit understands ({SCHEMA_VERSION}): upgrade agentops-kit")
    return meta_value(conn, "store_id") or "", version
