"""Compaction: drop history at or below a revision, then give the space back.

After compacting to C, the state at every revision >= C is still exact: for each key the
newest row at or below C stays (unless it is a tombstone: then nothing of the key at or
below C is needed), and every row above C is untouched.
"""

from __future__ import annotations

import logging
import sqlite3

from minikube13.store.schema import BUSY_TIMEOUT_MS, COMPACT_REV_KEY

log = logging.getLogger(__name__)

CHECKPOINT_WAIT_MS = 200

# A row at or below the revision goes if it is a tombstone or a newer row of its key at or
# below the revision supersedes it.
_DELETE_SQL = (
    "DELETE FROM kv WHERE kv.id <= :rev AND (kv.deleted = 1 OR EXISTS (SELECT 1 FROM kv AS"
    " newer WHERE newer.name = kv.name AND newer.id > kv.id AND newer.id <= :rev))"
)


def read_compacted(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM store_meta WHERE name = ?", (COMPACT_REV_KEY,))
    found = row.fetchone()
    return int(found[0] or 0) if found else 0


def compact_rows(conn: sqlite3.Connection, revision: int) -> int:
    """Delete the rows that compaction to `revision` makes unreachable; record the new
    compacted revision. Runs inside the caller's write transaction; returns rows dropped."""
    dropped = conn.execute(_DELETE_SQL, {"rev": revision}).rowcount
    _write_compacted(conn, revision)
    return max(dropped, 0)


def _write_compacted(conn: sqlite3.Connection, revision: int) -> None:
    params = (revision, COMPACT_REV_KEY)
    if not conn.execute("UPDATE store_meta SET value = ? WHERE name = ?", params).rowcount:
        conn.execute("INSERT INTO store_meta (value, name) VALUES (?, ?)", params)


def reclaim_space(conn: sqlite3.Connection) -> None:
    """Move freed pages out of the file and fold the WAL back in, so that db + wal stay
    near the live data size. `conn` is the writer's connection, outside any transaction
    (both pragmas refuse to run inside one)."""
    try:
        conn.execute("PRAGMA incremental_vacuum").fetchall()
        # A TRUNCATE checkpoint waits for readers through the busy handler: wait briefly,
        # not the connection's long timeout, so a slow reader cannot stall the writer.
        conn.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        try:
            busy, wal_pages, moved = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if busy:
            log.info("checkpoint incomplete wal_pages=%d moved=%d", wal_pages, moved)
    except sqlite3.Error as err:
        # A long reader can hold the WAL; the next compaction tries again.
        log.warning("reclaim failed error=%s", err)
