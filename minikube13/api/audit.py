"""Audit records: one journal entry per API mutation, with a MESSAGE_ID of its own.

`journalctl -u minikube13d MESSAGE_ID=<AUDIT_MESSAGE_ID>` lists them all and
`journalctl -u minikube13d AUDIT_VERB=delete` the deletions. Records go through logging
(logger `minikube13.audit`) with the fields in `extra["journal_fields"]`: the daemon's
journal handler sends them as journal fields, its stderr handler prints them as key=value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

# Fixed forever: tools select audit records by it (a journal MESSAGE_ID is 128 bits in hex).
AUDIT_MESSAGE_ID = "5c2b7e0e9d7f4a3f8e1b6c4d2a9f0e71"
MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
LOGGER = "minikube13.audit"

log = logging.getLogger(LOGGER)


@dataclass(frozen=True)
class AuditTarget:
    """What a mutating request acts on, known once its route is parsed."""
    verb: str
    resource: str            # plural, with "/subresource" when there is one
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class AuditRecord:
    user: str
    target: AuditTarget
    code: int

    def fields(self) -> dict[str, str]:
        t = self.target
        return {"MESSAGE_ID": AUDIT_MESSAGE_ID, "AUDIT_USER": self.user, "AUDIT_VERB": t.verb,
                "AUDIT_RESOURCE": t.resource, "AUDIT_NAMESPACE": t.namespace,
                "AUDIT_NAME": t.name, "AUDIT_CODE": str(self.code)}

    def message(self) -> str:
        t = self.target
        where = f"{t.namespace}/{t.name}" if t.namespace else t.name
        return f"audit user={self.user} verb={t.verb} resource={t.resource} " \
               f"object={where or '-'} code={self.code}"


TARGET = web.RequestKey("audit_target", AuditTarget)


def target_for(verb: str, resource: str, subresource: str, namespace: str,
               name: str) -> AuditTarget | None:
    """The audit target of a request, or None when the verb does not change anything."""
    if verb not in MUTATING_VERBS:
        return None
    plural = f"{resource}/{subresource}" if subresource else resource
    return AuditTarget(verb, plural, namespace, name)


def emit(record: AuditRecord) -> None:
    """Log one audit record (the handlers decide where it goes)."""
    t = record.target
    obj = "/".join(p for p in (t.resource, t.namespace, t.name) if p)
    log.info(record.message(), extra={"journal_fields": record.fields(),
                                      "namespace": t.namespace, "object": obj})
