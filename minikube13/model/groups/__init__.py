"""The API group modules; importing this package registers every KindSpec.

core/v1 is split by topic (core_pod_kind, core_service, core_config, core_cluster,
core_storage, core_rc); the other groups have their own modules. Every module in this package
is imported, so a new group registers itself by existing.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
