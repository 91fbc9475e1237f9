"""Reads against one snapshot: each function runs inside a reader's BEGIN (deferred)
transaction, so the revision it checks and the rows it returns agree."""

from __future__ import annotations

from sqlalchemy import Connection, and_, func, select

from minikube13.store.compactor import read_compacted
from minikube13.store.interface import (
    Compacted,
    FutureRevision,
    KeyValue,
    ListResult,
    WatchEvent,
)
from minikube13.store.schema import kv, prefix_end, row_event, row_kv

_MAX_ID = select(func.max(kv.c.id))
_prev = kv.alias("prev")


def snapshot_revisions(conn: Connection) -> tuple[int, int]:
    """(current, compacted) as this snapshot sees them. Compaction may have dropped the
    newest row (a tombstone), so the compacted revision also bounds the current one."""
    compacted = read_compacted(conn)
    newest = conn.execute(_MAX_ID).scalar_one_or_none() or 0
    return max(newest, compacted), compacted


def read_revision(conn: Connection, revision: int) -> int:
    """The revision to read at: 0 means the current one."""
    current, compacted = snapshot_revisions(conn)
    if revision == 0:
        return current
    if revision > current:
        raise FutureRevision(f"revision {revision} > current {current}")
    if revision < compacted:
        raise Compacted(revision, compacted)
    return revision


def get_at(conn: Connection, key: str, revision: int) -> KeyValue | None:
    rev = read_revision(conn, revision)
    row = conn.execute(
        select(kv).where(and_(kv.c.name == key, kv.c.id <= rev)).order_by(kv.c.id.desc()).limit(1)
    ).first()
    if row is None or row.deleted:
        return None
    return row_kv(row)


def list_at(conn: Connection, prefix: str, revision: int, start_after: str,
            limit: int) -> ListResult:
    rev = read_revision(conn, revision)
    bounds = [kv.c.id <= rev, kv.c.name >= prefix]
    end = prefix_end(prefix)
    if end is not None:
        bounds.append(kv.c.name < end)
    if start_after:
        bounds.append(kv.c.name > start_after)
    newest = (
        select(func.max(kv.c.id).label("id")).where(and_(*bounds)).group_by(kv.c.name).subquery()
    )
    query = (
        select(kv).join(newest, kv.c.id == newest.c.id).where(kv.c.deleted == 0)
        .order_by(kv.c.name)
    )
    if limit:
        query = query.limit(limit + 1)
    rows = conn.execute(query).all()
    more = bool(limit) and len(rows) > limit
    if more:
        rows = rows[:limit]
    return ListResult([row_kv(r) for r in rows], rev, more)


def history_page(conn: Connection, prefix: str, after: int,
                 limit: int) -> tuple[list[WatchEvent], int, bool]:
    """Events under `prefix` with revision > `after`, oldest first, at most `limit`; the
    revision up to which the page covers the history; whether it reached the end. Raises Compacted when rows
    after `after` may already be gone."""
    current, compacted = snapshot_revisions(conn)
    if after < compacted:
        raise Compacted(after, compacted)
    # Walk the primary key from `after` (a watch usually starts near the head); matching
    # the prefix with substr() keeps the planner off the name index, which would sort.
    query = (
        select(kv, _prev.c.value.label("prev_value"))
        .outerjoin(_prev, and_(_prev.c.id == kv.c.prev_revision, kv.c.created == 0))
        .where(kv.c.id > after)
    )
    if prefix:
        query = query.where(func.substr(kv.c.name, 1, len(prefix)) == prefix)
    rows = conn.execute(query.order_by(kv.c.id).limit(limit)).all()
    complete = len(rows) < limit
    covered = current if complete else rows[-1].id
    return [row_event(r) for r in rows], covered, complete


def count_rows(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(kv)).scalar_one())
