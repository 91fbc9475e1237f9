"""The kine-shaped table, its DDL, and the row <-> KeyValue mapping.

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

import sqlite3
from typing import Any

from minikube13.store.interface import EventType, KeyValue, WatchEvent

COMPACT_REV_KEY = "compact_rev"
BUSY_TIMEOUT_MS = 30000

# The same tables and indexes the store has always created (files made by earlier
# versions open unchanged).
_DDL = (
    """CREATE TABLE IF NOT EXISTS kv (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        created INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        create_revision INTEGER NOT NULL,
        prev_revision INTEGER NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (id)
    )""",
    # id: the revision of this write; created: 1 when this row (re)creates the key;
    # deleted: 1 for a tombstone, whose value is the key's last value; prev_revision: the
    # key's previous row, 0 if none.
    "CREATE UNIQUE INDEX IF NOT EXISTS kv_name_prev_revision_uindex ON kv (name, prev_revision)",
    "CREATE INDEX IF NOT EXISTS kv_name_id_index ON kv (name, id)",
    """CREATE TABLE IF NOT EXISTS store_meta (
        name VARCHAR NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (name)
    )""",
)

# The columns of a KeyValue, in its field order: `KeyValue(*row)` for a row selecting them.
KV_COLUMNS = "kv.name, kv.value, kv.create_revision, kv.id"
# A history row: KV_COLUMNS, then what row_event needs to rebuild the event.
EVENT_COLUMNS = f"{KV_COLUMNS}, kv.created, kv.deleted, kv.prev_revision"


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and indexes if absent, inside the caller's write transaction."""
    for statement in _DDL:
        conn.execute(statement)


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


def row_event(row: tuple[Any, ...]) -> WatchEvent:
    """A history row (EVENT_COLUMNS, then the value at its prev_revision) as the watch
    event it records."""
    name, value, create_revision, rev, created, deleted, prev_revision, prev_value = row
    prev = None
    if not created:
        prev = KeyValue(name, prev_value, create_revision, prev_revision)
    kind = EventType.DELETE if deleted else EventType.PUT
    return WatchEvent(kind, KeyValue(name, value, create_revision, rev), prev)
