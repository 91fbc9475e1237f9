"""coordination.k8s.io/v1 Lease: leader election and node heartbeats.

renewTime and acquireTime are MicroTime (RFC 3339 with microseconds); the API does not judge
whether a lease has expired, only that its numbers make sense.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    MICRO_TIME,
    NAME_COLUMN,
    name_of,
    obj,
    object_age,
    parse_time,
    top_level,
)
from minikube13.model.objects import Column, KindSpec, Object
from minikube13.model.schema import integer, string

_API = "io.k8s.api.coordination.v1"

LEASE_SPEC = obj(f"{_API}.LeaseSpec", "LeaseSpec is a specification of a Lease.", {
    "holderIdentity": string("holderIdentity contains the identity of the holder of a "
                             "current lease."),
    "leaseDurationSeconds": integer("leaseDurationSeconds is a duration that candidates for a "
                                    "lease need to wait to force acquire it. This is measured "
                                    "against the time of last observed renewTime."),
    "acquireTime": MICRO_TIME.with_description("acquireTime is a time when the current lease "
                                               "was acquired."),
    "renewTime": MICRO_TIME.with_description("renewTime is a time when the current holder of "
                                             "a lease has last updated the lease."),
    "leaseTransitions": integer("leaseTransitions is the number of transitions of a lease "
                                "between holders."),
})

LEASE = top_level(f"{_API}.Lease", "Lease defines a lease concept.", {
    "spec": LEASE_SPEC.with_description("spec contains the specification of the Lease."),
})


def validate_lease(new: Object, old: Object | None) -> list[FieldError]:
    spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    out: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        out.append(fe.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and transitions < 0:
        out.append(fe.invalid("spec.leaseTransitions", transitions,
                              "must be greater than or equal to 0"))
    for key in ("acquireTime", "renewTime"):
        value = spec.get(key)
        if isinstance(value, str) and parse_time(value) is None:
            out.append(fe.invalid(f"spec.{key}", value, "must be an RFC 3339 time, e.g. "
                                  "\"2006-01-02T15:04:05.000000Z\""))
    return out


def lease_cells(lease: Object, now: datetime) -> list[Any]:
    holder = (lease.get("spec") or {}).get("holderIdentity") or ""
    return [name_of(lease), holder, object_age(lease, now)]


objects.register(KindSpec(
    "leases", LEASE, validate=validate_lease,
    columns=(NAME_COLUMN, Column("Holder", description="Name of the Lease holder"), AGE_COLUMN),
    cells=lease_cells))
