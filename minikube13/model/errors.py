"""Errors of the object model: field errors in the shape of Kubernetes' field.Error."""

from __future__ import annotations

import json
from dataclasses import dataclass

# Kubernetes CauseType values (metav1.CauseType) and the text each one starts with.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_FOUND = "FieldValueNotFound"

_TEXT = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    DUPLICATE: "Duplicate value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TYPE_INVALID: "Invalid value",
    NOT_FOUND: "Not found",
}

_NO_VALUE = object()


@dataclass(frozen=True)
class FieldError:
    """One problem with one field, e.g. `spec.containers[0].image: Required value`."""

    type: str
    field: str
    detail: str = ""
    value: object = _NO_VALUE

    def body(self) -> str:
        """The message without the field path (the `message` of a Status cause)."""
        text = _TEXT.get(self.type, "Invalid value")
        if self.value is not _NO_VALUE and self.type in (
                INVALID, NOT_SUPPORTED, DUPLICATE, TYPE_INVALID, NOT_FOUND):
            text += ": " + _render(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    def message(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()


def _render(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), default=str)[:200]


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, field, detail)


def invalid(field: str, value: object, detail: str = "") -> FieldError:
    return FieldError(INVALID, field, detail, value)


def not_supported(field: str, value: object, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported)
    return FieldError(NOT_SUPPORTED, field, detail, value)


def duplicate(field: str, value: object) -> FieldError:
    return FieldError(DUPLICATE, field, "", value)


def not_found(field: str, value: object) -> FieldError:
    return FieldError(NOT_FOUND, field, "", value)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, field, detail)


def too_long(field: str, limit: int) -> FieldError:
    return FieldError(TOO_LONG, field, f"may not be more than {limit} bytes")


def type_invalid(field: str, value: object, expected: str) -> FieldError:
    return FieldError(TYPE_INVALID, field, f"must be of type {expected}", value)


class ModelError(Exception):
    """Root of the object model's errors."""


class Invalid(ModelError):
    """An object failed validation (HTTP 422, reason Invalid)."""

    def __init__(self, kind: str, name: str, errors: list[FieldError]):
        self.kind = kind
        self.name = name
        self.errors = list(errors)
        super().__init__(self.message())

    def message(self) -> str:
        parts = [e.message() for e in self.errors]
        body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        return f'{self.kind} "{self.name}" is invalid: {body}'


class BadRequest(ModelError):
    """The request body cannot be decoded as this kind (HTTP 400, reason BadRequest)."""
