"""Run served objects through the model's admission in tests, as the registry would."""

from __future__ import annotations

from typing import Any

import pytest

from minikube13.model import kinds, objects
from minikube13.model.errors import Invalid

Object = dict[str, Any]


def admit(info: kinds.ResourceInfo, obj: Object, old: Object | None = None,
          mode: str = "Strict") -> Object:
    """The canonical object the registry would store for a served `obj`."""
    out, _ = objects.admit(info, objects.to_storage(info, obj), old, mode)
    return out


def messages(info: kinds.ResourceInfo, obj: Object, old: Object | None = None) -> list[str]:
    """The field error messages of an object admission must refuse."""
    with pytest.raises(Invalid) as err:
        admit(info, obj, old)
    return [e.message() for e in err.value.errors]
