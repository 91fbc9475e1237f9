"""What `kubectl get` shows: Table columns, the NAME/AGE defaults and kubectl's human AGE."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Column:
    """A Table column: name, type and format as in meta.k8s.io/v1 TableColumnDefinition."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0  # 1 = only with -o wide


NAME_COLUMN = Column("Name", "string", "name", "Name must be unique within a namespace.")
AGE_COLUMN = Column("Age", "string", "", "CreationTimestamp is a timestamp representing the "
                    "server time when this object was created.")


def parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """kubectl's duration.HumanDuration: "5s", "3m2s", "5h", "2d", "3y45d"."""
    s = int(seconds)
    if s < 0:
        return "0s" if s > -2 else "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 - 365 * (hours // 24 // 365)
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def age(timestamp: Any, now: datetime) -> str:
    """The AGE cell: time since `timestamp` (RFC 3339), or "<unknown>" like kubectl."""
    when = parse_time(timestamp) if isinstance(timestamp, str) else None
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def object_age(obj: dict[str, Any], now: datetime) -> str:
    return age((obj.get("metadata") or {}).get("creationTimestamp"), now)


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def default_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    """The cells of the default NAME/AGE table."""
    return [name_of(obj), object_age(obj, now)]
