"""What a caller may ask of the registry, and what it gets back (the registry contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minikube13.registry.user import UserInfo


@dataclass(frozen=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""  # "" = latest; "0" = any; N = at least/exactly N
    resource_version_match: str = ""  # "", "NotOlderThan", "Exact"
    allow_bookmarks: bool = False
    timeout_seconds: int | None = None
    send_initial_events: bool | None = None


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Warn"  # "Strict" | "Warn" | "Ignore" (kubectl sends Strict)
    field_manager: str = ""
    user: UserInfo | None = None


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # "Orphan" | "Background" | "Foreground"
    orphan_dependents: bool | None = None  # the old spelling
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False


@dataclass
class Result:
    object: dict[str, Any]  # served form (apiVersion/kind of the requested ResourceInfo)
    warnings: list[str] = field(default_factory=list)  # `Warning: 299 - "..."` headers
    status_code: int = 200  # 201 on create, 202 on a delete that is still pending
