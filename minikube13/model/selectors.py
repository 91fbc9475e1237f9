"""Label and field selectors: the `labelSelector`/`fieldSelector` query strings and the
`LabelSelector` objects of specs (matchLabels / matchExpressions), parsed and matched the way
the apiserver does (k8s.io/apimachinery labels.Parse and fields.ParseSelector)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minikube13.model.validation import label_value, qualified_name


class SelectorError(ValueError):
    """A selector that cannot be parsed or is not valid (the API answers 400 BadRequest)."""


# -- label selectors ---------------------------------------------------------------------

EQUALS, NOT_EQUALS, IN, NOT_IN = "=", "!=", "in", "notin"
EXISTS, DOES_NOT_EXIST, GREATER, LESS = "exists", "!", "gt", "lt"

_OBJECT_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector, e.g. `tier in (web,db)`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if self.operator in (EQUALS, IN):
            return present and value in self.values
        if self.operator in (NOT_EQUALS, NOT_IN):
            return not present or value not in self.values
        if not present or not _is_int(value):
            return False
        bound = int(self.values[0])
        return int(value) > bound if self.operator == GREATER else int(value) < bound

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        symbol = {GREATER: ">", LESS: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements. `nothing` is the nil selector, which matches nothing."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit() and text.count("-") <= 1


def _requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """Validate like labels.NewRequirement; values of in/notin are sorted as it does."""
    for msg in qualified_name(key):
        raise SelectorError(f'unable to parse requirement: key: Invalid value: "{key}": {msg}')
    if operator in (IN, NOT_IN) and not values:
        raise SelectorError("unable to parse requirement: values: Invalid value: []: for "
                            "'in', 'notin' operators, values set can't be empty")
    if operator in (GREATER, LESS) and (len(values) != 1 or not _is_int(values[0])):
        raise SelectorError(f"unable to parse requirement: values[0]: Invalid value: "
                            f"{values!r}: for 'Gt', 'Lt' operators, the value must be an integer")
    if operator not in (GREATER, LESS):
        for value in values:
            for msg in label_value(value):
                raise SelectorError(f"unable to parse requirement: values[0][{key}]: Invalid "
                                    f'value: "{value}": {msg}')
    ordered = tuple(sorted(set(values))) if operator in (IN, NOT_IN) else tuple(values)
    return Requirement(key, operator, ordered)


def _sorted(requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# The lexer splits on these; everything else that is not blank belongs to an identifier.
_SPECIAL = "=!(),<>"


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _SPECIAL:
            two = text[i:i + 2]
            step = 2 if two in ("==", "!=") else 1
            out.append(text[i:i + step])
            i += step
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            out.append(text[start:i])
    return out


def _is_identifier(token: str | None) -> bool:
    return bool(token) and token is not None and token[0] not in _SPECIAL


class _LabelParser:
    """A recursive-descent parser over labels.Parse's grammar; messages follow its own."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token

    def fail(self, found: str | None, expected: str) -> SelectorError:
        return SelectorError(f"unable to parse requirement: found '{found or ''}', "
                             f"expected: {expected}")

    def parse(self) -> LabelSelector:
        requirements: list[Requirement] = []
        while self.peek() is not None:
            token = self.peek()
            if not (_is_identifier(token) or token == "!"):
                raise self.fail(token, "!, identifier, or 'end of string'")
            requirements.append(self.requirement())
            after = self.take()
            if after is None:
                break
            if after != ",":
                raise self.fail(after, "',' or 'end of string'")
            if self.peek() is None:
                raise self.fail(None, "identifier after ','")
        return _sorted(requirements)

    def requirement(self) -> Requirement:
        negated = self.peek() == "!"
        if negated:
            self.take()
        key = self.take()
        if not _is_identifier(key):
            raise self.fail(key, "identifier")
        assert key is not None
        if negated:
            return _requirement(key, DOES_NOT_EXIST, [])
        if self.peek() in (None, ","):
            return _requirement(key, EXISTS, [])
        operator = self.take()
        ops = {"=": EQUALS, "==": EQUALS, "!=": NOT_EQUALS, "in": IN, "notin": NOT_IN,
               ">": GREATER, "<": LESS}
        if operator not in ops:
            raise self.fail(operator, "[!= == = > < in notin]")
        assert operator is not None
        if ops[operator] in (IN, NOT_IN):
            return _requirement(key, ops[operator], self.value_set())
        if self.peek() in (None, ","):
            return _requirement(key, ops[operator], [""])  # `a=` selects the empty value
        value = self.take()
        if not _is_identifier(value):
            raise self.fail(value, "identifier")
        assert value is not None
        return _requirement(key, ops[operator], [value])

    def value_set(self) -> list[str]:
        token = self.take()
        if token != "(":
            raise self.fail(token, "'('")
        values: list[str] = []
        want_value = True
        while True:
            token = self.take()
            if token == ")":
                if want_value and values:
                    values.append("")  # `in (a,)` names the empty value, as labels.Parse does
                return values
            if token == ",":
                if want_value:
                    values.append("")
                want_value = True
            elif want_value and _is_identifier(token):
                assert token is not None
                values.append(token)
                want_value = False
            else:
                raise self.fail(token, "',' or ')'")


def parse_labels(text: str) -> LabelSelector:
    """Parse a `labelSelector` query string such as `app=web,tier in (a,b),!canary`."""
    if not text.strip():
        return EVERYTHING
    return _LabelParser(text).parse()


def from_map(selector: Mapping[str, str] | None) -> LabelSelector:
    """An equality selector from a plain map (RC and Service selectors; nil = everything)."""
    return _sorted([_requirement(k, EQUALS, [v]) for k, v in (selector or {}).items()])


def from_label_selector(selector: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: nil matches nothing, {} matches everything."""
    if selector is None:
        return NOTHING
    requirements = [_requirement(k, EQUALS, [v])
                    for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op = _OBJECT_OPERATORS.get(expr.get("operator", ""))
        if op is None:
            raise SelectorError(f'"{expr.get("operator", "")}" is not a valid label selector '
                                "operator")
        values = list(expr.get("values") or [])
        if op in (EXISTS, DOES_NOT_EXIST) and values:
            raise SelectorError("values: Invalid value: []: values set must be empty for "
                                "exists and does not exist")
        requirements.append(_requirement(expr.get("key", ""), op, values))
    return _sorted(requirements)


# -- field selectors ---------------------------------------------------------------------

@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field) == self.value
        return equal if self.operator == EQUALS else not equal

    def __str__(self) -> str:
        value = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.operator}{value}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def fields(self) -> list[str]:
        return [r.field for r in self.requirements]

    def value_of(self, field: str) -> str | None:
        """The value an `=` term pins `field` to (a fast path for metadata.name), or None."""
        for r in self.requirements:
            if r.field == field and r.operator == EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current) + ("\\" if escaped else ""))
    return parts


def _unescape(value: str, term: str) -> str:
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped {ch} in {term!r}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: unterminated escape sequence")
    return "".join(out)


def _field_term(term: str) -> FieldRequirement:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                value = _unescape(term[i + len(op):], term)
                return FieldRequirement(term[:i], NOT_EQUALS if op == "!=" else EQUALS, value)
    raise SelectorError(f"invalid selector: '{term}'; can't understand '{term}'")


def parse_fields(text: str) -> FieldSelector:
    """Parse a `fieldSelector` such as `metadata.name=web,status.phase!=Failed`."""
    if not text.strip():
        return FieldSelector()
    return FieldSelector(tuple(_field_term(t.strip()) for t in _split_unescaped(text, ",")))


def check_fields(selector: FieldSelector, supported: set[str]) -> None:
    """Refuse a selector naming a field the kind does not index, as the apiserver does."""
    for name in selector.fields():
        if name not in supported:
            raise SelectorError(f"field label not supported: {name}")
