"""Compaction: drop history at or below a revision, then give the space back.

After compacting to C, the state at every revision >= C is still exact: for each key the
newest row at or below C stays (unless it is a tombstone: then nothing of the key at or
below C is needed), and every row above C is untouched.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)

from minikube13.store.schema import BUSY_TIMEOUT_MS, COMPACT_REV_KEY, kv, store_meta

log = logging.getLogger(__name__)

_newer = kv.alias("newer")
CHECKPOINT_WAIT_MS = 200


def read_compacted(conn: Connection) -> int:
    value = conn.execute(
        select(store_meta.c.value).where(store_meta.c.name == COMPACT_REV_KEY)
    ).scalar_one_or_none()
    return int(value or 0)


def compact_rows(conn: Connection, revision: int) -> int:
    """Delete the rows that compaction to `revision` makes unreachable; record the new
    compacted revision. Runs inside the caller's write transaction; returns rows dropped."""
    rev = bindparam("rev", revision, type_=Integer)
    superseded = exists().where(
        and_(_newer.c.name == kv.c.name, _newer.c.id > kv.c.id, _newer.c.id <= rev)
    )
    result = conn.execute(
        delete(kv).where(and_(kv.c.id <= rev, or_(kv.c.deleted == 1, superseded)))
    )
    _write_compacted(conn, revision)
    return int(result.rowcount or 0)


def _write_compacted(conn: Connection, revision: int) -> None:
    done = conn.execute(
        update(store_meta).where(store_meta.c.name == COMPACT_REV_KEY).values(value=revision)
    )
    if not done.rowcount:
        conn.execute(insert(store_meta).values(name=COMPACT_REV_KEY, value=revision))


def reclaim_space(raw: Any) -> None:
    """Move freed pages out of the file and fold the WAL back in, so that db + wal stay
    near the live data size. `raw` is the writer's sqlite3 connection, outside any
    transaction (both pragmas refuse to run inside one)."""
    try:
        raw.execute("PRAGMA incremental_vacuum").fetchall()
        # A TRUNCATE checkpoint waits for readers through the busy handler: wait briefly,
        # not the connection's long timeout, so a slow reader cannot stall the writer.
        raw.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        try:
            busy, wal_pages, moved = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if busy:
            log.info("checkpoint incomplete wal_pages=%d moved=%d", wal_pages, moved)
    except sqlite3.Error as err:
        # A long reader can hold the WAL; the next compaction tries again.
        log.warning("reclaim failed error=%s", err)
