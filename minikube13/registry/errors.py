"""API errors raised by the registry; the HTTP layer turns each into a Kubernetes Status."""

from __future__ import annotations

from typing import Any

from minikube13.model.errors import FieldError


class StatusError(Exception):
    """An error with the exact HTTP code and Status reason Kubernetes gives."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            doc["details"] = self.details
        return doc


def _details(resource: str, name: str, group: str = "", **more: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": resource, **more}
    if group:
        d["group"] = group
    return d


def not_found(group: str, resource: str, name: str) -> StatusError:
    qual = f"{resource}.{group}" if group else resource
    return StatusError(404, "NotFound", f'{qual} "{name}" not found',
                       _details(resource, name, group))


def already_exists(group: str, resource: str, name: str) -> StatusError:
    qual = f"{resource}.{group}" if group else resource
    return StatusError(409, "AlreadyExists", f'{qual} "{name}" already exists',
                       _details(resource, name, group))


def conflict(group: str, resource: str, name: str, why: str) -> StatusError:
    qual = f"{resource}.{group}" if group else resource
    return StatusError(409, "Conflict",
                       f'Operation cannot be fulfilled on {qual} "{name}": {why}',
                       _details(resource, name, group))


def invalid(group: str, kind: str, name: str, message: str,
            errors: list[FieldError]) -> StatusError:
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    return StatusError(422, "Invalid", message, _details(kind, name, group, causes=causes))


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def method_not_allowed(message: str = "the server does not allow this method on the "
                       "requested resource") -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def forbidden(message: str) -> StatusError:
    return StatusError(403, "Forbidden", message)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def too_large(message: str = "the request is too large") -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", message)


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media "
                       f"types include: application/json, application/yaml, "
                       f"application/json-patch+json, application/merge-patch+json, "
                       f"application/strategic-merge-patch+json (got {content_type})")


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", message)


def unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def forbidden_on(group: str, resource: str, name: str, why: str) -> StatusError:
    """403 about one object, worded like apierrors.NewForbidden."""
    qual = f"{resource}.{group}" if group else resource
    message = f'{qual} "{name}" is forbidden: {why}' if name else f"{qual} is forbidden: {why}"
    return StatusError(403, "Forbidden", message, _details(resource, name, group))


def no_such_subresource() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource")


def timeout(message: str, retry_after: int = 1) -> StatusError:
    return StatusError(504, "Timeout", message, {"retryAfterSeconds": retry_after})
