"""Reads against one snapshot: each function runs inside a reader's BEGIN (deferred)
transaction, so the revision it checks and the rows it returns agree."""

from __future__ import annotations

import sqlite3

from minikube13.store.compactor import read_compacted
from minikube13.store.interface import (
    Compacted,
    FutureRevision,
    KeyValue,
    ListResult,
    WatchEvent,
)
from minikube13.store.schema import EVENT_COLUMNS, KV_COLUMNS, prefix_end, row_event

_GET_SQL = (
    f"SELECT kv.deleted, {KV_COLUMNS} FROM kv WHERE kv.name = ? AND kv.id <= ?"
    " ORDER BY kv.id DESC LIMIT 1"
)
# The newest row of each key in the bounds, if it is not a tombstone, in key order.
_LIST_SQL = (
    f"SELECT {KV_COLUMNS} FROM kv JOIN (SELECT max(kv.id) AS id FROM kv WHERE {{bounds}}"
    " GROUP BY kv.name) AS newest ON kv.id = newest.id WHERE kv.deleted = 0 ORDER BY kv.name"
)
# Walk the primary key from `after` (a watch usually starts near the head); matching the
# prefix with substr() keeps the planner off the name index, which would sort.
_HISTORY_SQL = (
    f"SELECT {EVENT_COLUMNS}, prev.value FROM kv"
    " LEFT OUTER JOIN kv AS prev ON prev.id = kv.prev_revision AND kv.created = 0"
    " WHERE kv.id > ?{prefix} ORDER BY kv.id LIMIT ?"
)
_HISTORY_ALL_SQL = _HISTORY_SQL.format(prefix="")
_HISTORY_PREFIX_SQL = _HISTORY_SQL.format(prefix=" AND substr(kv.name, 1, ?) = ?")


def snapshot_revisions(conn: sqlite3.Connection) -> tuple[int, int]:
    """(current, compacted) as this snapshot sees them. Compaction may have dropped the
    newest row (a tombstone), so the compacted revision also bounds the current one."""
    compacted = read_compacted(conn)
    newest = conn.execute("SELECT max(id) FROM kv").fetchone()[0] or 0
    return max(newest, compacted), compacted


def read_revision(conn: sqlite3.Connection, revision: int) -> int:
    """The revision to read at: 0 means the current one."""
    current, compacted = snapshot_revisions(conn)
    if revision == 0:
        return current
    if revision > current:
        raise FutureRevision(f"revision {revision} > current {current}")
    if revision < compacted:
        raise Compacted(revision, compacted)
    return revision


def get_at(conn: sqlite3.Connection, key: str, revision: int) -> KeyValue | None:
    rev = read_revision(conn, revision)
    row = conn.execute(_GET_SQL, (key, rev)).fetchone()
    if row is None or row[0]:
        return None
    return KeyValue(*row[1:])


def list_at(conn: sqlite3.Connection, prefix: str, revision: int, start_after: str,
            limit: int) -> ListResult:
    rev = read_revision(conn, revision)
    bounds, params = ["kv.id <= ?", "kv.name >= ?"], [rev, prefix]
    end = prefix_end(prefix)
    if end is not None:
        bounds.append("kv.name < ?")
        params.append(end)
    if start_after:
        bounds.append("kv.name > ?")
        params.append(start_after)
    sql = _LIST_SQL.format(bounds=" AND ".join(bounds))
    if limit:
        sql += " LIMIT ?"
        params.append(limit + 1)
    rows = conn.execute(sql, params).fetchall()
    more = bool(limit) and len(rows) > limit
    if more:
        rows = rows[:limit]
    return ListResult([KeyValue(*r) for r in rows], rev, more)


def history_page(conn: sqlite3.Connection, prefix: str, after: int,
                 limit: int) -> tuple[list[WatchEvent], int, bool]:
    """Events under `prefix` with revision > `after`, oldest first, at most `limit`; the
    revision up to which the page covers the history; whether it reached the end. Raises
    Compacted when rows after `after` may already be gone."""
    current, compacted = snapshot_revisions(conn)
    if after < compacted:
        raise Compacted(after, compacted)
    if prefix:
        rows = conn.execute(_HISTORY_PREFIX_SQL, (after, len(prefix), prefix, limit)).fetchall()
    else:
        rows = conn.execute(_HISTORY_ALL_SQL, (after, limit)).fetchall()
    complete = len(rows) < limit
    covered = current if complete else rows[-1][3]  # the last row's id
    return [row_event(r) for r in rows], covered, complete


def count_rows(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM kv").fetchone()[0])
