"""The kine-shaped table, its engines, and the row <-> KeyValue mapping.

One table holds every revision: the integer primary key *is* the revision, a row with
`deleted = 1` is a tombstone, and the unique index on `(name, prev_revision)` is the
compare-and-swap guard (two writers that both read revision N cannot both insert a row
whose previous revision is N). The compacted revision lives in a one-row meta table so
that compaction does not consume a revision.

Unlike kine there is no `old_value` column: a watch event's previous value is the row at
`prev_revision`, which compaction never drops while a later row of the key exists (it keeps
the newest row of each key at or below the compacted revision). Storing it twice doubled
the file: a ~2 KiB row fills a 4 KiB page alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import Row
from sqlalchemy.pool import QueuePool

from minikube13.store.interface import EventType, KeyValue, WatchEvent

COMPACT_REV_KEY = "compact_rev"
BUSY_TIMEOUT_MS = 30000

metadata = MetaData()

kv = Table(
    "kv",
    metadata,
    Column("id", Integer, primary_key=True),  # the revision of this write
    Column("name", String, nullable=False),
    Column("created", Integer, nullable=False),  # 1: this row (re)creates the key
    Column("deleted", Integer, nullable=False),  # 1: tombstone; value = the last value
    Column("create_revision", Integer, nullable=False),
    Column("prev_revision", Integer, nullable=False),  # the key's previous row, 0 if none
    Column("value", LargeBinary, nullable=False),  # for a tombstone: the last value
    Index("kv_name_prev_revision_uindex", "name", "prev_revision", unique=True),
    Index("kv_name_id_index", "name", "id"),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("name", String, primary_key=True),
    Column("value", Integer, nullable=False),
)


def open_engine(path: str, *, begin: str, pool_size: int) -> Engine:
    """An engine whose connections run WAL + synchronous=FULL and whose transactions start
    with `begin` ("BEGIN IMMEDIATE" for the writer, "BEGIN" for readers).

    pysqlite's own transaction handling is switched off so that SQLAlchemy's begin() emits
    exactly the statement we choose (the recipe in SQLAlchemy's SQLite dialect docs).
    """
    engine = create_engine(
        f"sqlite:///{path}",
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # auto_vacuum only takes effect before the first table exists: i.e. at creation.
        cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: fsync the WAL on every commit, so an acknowledged write survives power loss.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # After a checkpoint, truncate a WAL that grew past 4 MiB back down.
        cur.execute("PRAGMA journal_size_limit=4194304")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def create_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        metadata.create_all(conn)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: no
    bound). SQLite's BINARY collation orders UTF-8 bytes, which is code point order."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be stored as UTF-8
        following = 0xE000
    return stripped[:-1] + chr(following)


def row_kv(row: Row[Any]) -> KeyValue:
    return KeyValue(row.name, row.value, row.create_revision, row.id)


def row_event(row: Row[Any]) -> WatchEvent:
    """A history row (with `prev_value`, the value at its prev_revision) as the watch event
    it records."""
    prev = None
    if not row.created:
        prev = KeyValue(row.name, row.prev_value, row.create_revision, row.prev_revision)
    kind = EventType.DELETE if row.deleted else EventType.PUT
    return WatchEvent(kind, row_kv(row), prev)
