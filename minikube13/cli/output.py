"""How the CLI prints objects: tables, yaml/json, names, and `describe` text (all pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from minikube13.cli.resources import qualified
from minikube13.model.kinds import ResourceInfo

Object = dict[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def as_table(table: Object, *, wide: bool, namespace_column: bool,
             name_prefix: str = "") -> str:
    """A meta.k8s.io Table as kubectl prints it: upper-case headers, aligned columns.

    `name_prefix` (`deployment.apps/`) marks rows when several kinds are listed together.
    """
    columns = table.get("columnDefinitions") or []
    shown = [i for i, c in enumerate(columns) if wide or not c.get("priority", 0)]
    header = [str(columns[i].get("name", "")).upper() for i in shown]
    name_at = header.index("NAME") if "NAME" in header else -1
    rows: list[list[str]] = []
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        rows.append([_cell(cells[i]) if i < len(cells) else "" for i in shown])
        if name_at >= 0:
            rows[-1][name_at] = name_prefix + rows[-1][name_at]
        if namespace_column:
            meta = (row.get("object") or {}).get("metadata") or {}
            rows[-1].insert(0, str(meta.get("namespace", "")))
    if namespace_column:
        header.insert(0, "NAMESPACE")
    return align([header, *rows])


def fallback_table(items: list[Object], *, namespace_column: bool, now: datetime) -> str:
    """NAME and AGE, for a server that did not answer with a Table."""
    header = ["NAMESPACE", "NAME", "AGE"] if namespace_column else ["NAME", "AGE"]
    rows = []
    for obj in items:
        meta = obj.get("metadata") or {}
        row = [str(meta.get("name", "")), age(meta.get("creationTimestamp"), now)]
        if namespace_column:
            row.insert(0, str(meta.get("namespace", "")))
        rows.append(row)
    return align([header, *rows])


def align(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)).rstrip()
             for r in rows]
    return "\n".join(lines)


def age(timestamp: Any, now: datetime) -> str:
    """A short age like kubectl's: 90s, 12m, 5h, 3d (a unit once there are two of it)."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def dump(doc: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=4)
    import yaml  # here, not at the top: `minikube13 daemon` never needs it
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).rstrip("\n")


def as_list(items: list[Object], resource_version: str = "") -> Object:
    """A kubectl-style `v1 List` of objects (each with its apiVersion and kind)."""
    return {"apiVersion": "v1", "kind": "List", "items": items,
            "metadata": {"resourceVersion": resource_version}}


def with_type(info: ResourceInfo, obj: Object) -> Object:
    return {"apiVersion": info.api_version, "kind": info.kind, **obj}


def name_of(info: ResourceInfo, obj: Object) -> str:
    return f"{qualified(info)}/{(obj.get('metadata') or {}).get('name', '')}"


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- describe -------------------------------------------------------------------------------

def describe_text(info: ResourceInfo, obj: Object, events: list[Object],
                  now: datetime) -> str:
    meta = obj.get("metadata") or {}
    lines = [_field("Name", meta.get("name", ""))]
    if info.namespaced:
        lines.append(_field("Namespace", meta.get("namespace", "")))
    lines.append(_field("Kind", f"{info.kind} ({info.api_version})"))
    lines.append(_mapping_field("Labels", meta.get("labels")))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != LAST_APPLIED}  # kubectl hides this copy of the manifest too
    lines.append(_mapping_field("Annotations", annotations))
    lines.append(_field("CreationTimestamp", meta.get("creationTimestamp", "<unknown>")))
    if meta.get("deletionTimestamp"):
        lines.append(_field("DeletionTimestamp", meta["deletionTimestamp"]))
    for owner in meta.get("ownerReferences") or []:
        lines.append(_field("Controlled By", f"{owner.get('kind')}/{owner.get('name')}"))
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        lines.append(f"{_title(key)}:")
        lines.extend(_nested(value, 1))
    lines.append(_events(events, now))
    return "\n".join(lines)


def _field(label: str, value: Any) -> str:
    return f"{label + ':':<20}{value}"


def _mapping_field(label: str, mapping: Any) -> str:
    if not mapping:
        return _field(label, "<none>")
    pairs = [f"{k}={v}" for k, v in sorted(mapping.items())]
    return "\n".join([_field(label, pairs[0]), *(" " * 20 + p for p in pairs[1:])])


def _nested(value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        if not value:
            return [pad + "<none>"]
        out: list[str] = []
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                out.append(f"{pad}{k}:")
                out.extend(_nested(v, depth + 1))
            else:  # keys as the API spells them: label and data keys are the user's own
                out.append(f"{pad}{k}:  {_scalar(v)}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            sub = _nested(item, depth + 1)
            out.append(pad + "- " + sub[0].lstrip())
            out.extend(sub[1:])
        return out or [pad + "<none>"]
    return [pad + _scalar(value)]


def _events(events: list[Object], now: datetime) -> str:
    if not events:
        return _field("Events", "<none>")
    rows = [["Type", "Reason", "Age", "From", "Message"], ["----"] * 5]
    for ev in events:
        source = (ev.get("source") or {}).get("component", "")
        when = ev.get("lastTimestamp") or ev.get("eventTime") or \
            (ev.get("metadata") or {}).get("creationTimestamp")
        rows.append([str(ev.get("type", "")), str(ev.get("reason", "")), age(when, now),
                     str(source), str(ev.get("message", ""))])
    return "Events:\n" + "\n".join("  " + line for line in align(rows).splitlines())


def _title(key: str) -> str:
    return key[:1].upper() + key[1:]


def _scalar(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
