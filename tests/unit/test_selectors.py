"""Label and field selectors as `kubectl get -l` / `--field-selector` send them."""

from __future__ import annotations

import pytest

from minikube13.model.selectors import (
    SelectorError,
    check_fields,
    from_label_selector,
    from_map,
    parse_fields,
    parse_labels,
)

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize(("text", "expected"), [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("tier in (front,back)", True),
    ("tier in (back)", False),
    ("tier notin (back)", True),
    ("missing notin (x)", True),
    ("tier notin (front)", False),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("version>2", True),
    ("version<3", False),
    ("app=web,tier in (front),!canary", True),
    ("app=web,tier=back", False),
    (" app = web , tier ", True),
])
def test_label_selector_matches_like_kubectl(text: str, expected: bool) -> None:
    """Every operator of the labelSelector grammar selects what kubectl -l would."""
    assert parse_labels(text).matches(LABELS) is expected


def test_label_selector_prints_sorted_by_key() -> None:
    """A parsed selector prints in the apiserver's canonical (key-sorted) form."""
    text = "z=1,a in (y,x),!b,c,d notin (q),e!=f"
    assert str(parse_labels(text)) == "a in (x,y),!b,c,d notin (q),e!=f,z=1"


@pytest.mark.parametrize(("text", "fragment"), [
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("a in b", "expected: '('"),
    ("a,", "identifier after ','"),
    ("=a", "expected: !, identifier, or 'end of string'"),
    ("a in ()", "values set can't be empty"),
    ("a b", "expected: [!= == = > < in notin]"),
    ("a>b", "must be an integer"),
    ("a=-x", "a valid label must be"),
    ("a/b/c=d", "qualified name"),
])
def test_bad_label_selector_is_a_clear_error(text: str, fragment: str) -> None:
    """A malformed labelSelector is refused with the apiserver's wording."""
    with pytest.raises(SelectorError) as err:
        parse_labels(text)
    assert fragment in str(err.value)
    assert str(err.value).startswith("unable to parse requirement")


def test_label_selector_objects_match() -> None:
    """matchLabels and matchExpressions (In/NotIn/Exists/DoesNotExist) combine with AND."""
    selector = from_label_selector({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "version", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    })
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "canary": "1"})
    assert not selector.matches({**LABELS, "env": "prod"})
    assert str(selector) == "app=web,!canary,env notin (prod),tier in (back,front),version"


def test_nil_selector_matches_nothing_and_empty_matches_everything() -> None:
    """A nil LabelSelector selects nothing; {} selects every object."""
    assert not from_label_selector(None).matches(LABELS)
    assert from_label_selector({}).matches(LABELS)
    assert from_map(None).matches({})
    assert from_map({"app": "web"}).matches(LABELS)


def test_label_selector_object_with_bad_operator() -> None:
    """An unknown matchExpressions operator is an error, not a silent match."""
    with pytest.raises(SelectorError, match="is not a valid label selector operator"):
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Equals"}]})
    with pytest.raises(SelectorError, match="must be empty"):
        from_label_selector({"matchExpressions": [
            {"key": "a", "operator": "Exists", "values": ["x"]}]})


def test_field_selector_parse_and_match() -> None:
    """`=`, `==` and `!=` terms all have to hold; escaped commas stay in the value."""
    selector = parse_fields(r"metadata.name=web,status.phase!=Failed,spec.x==a\,b")
    fields = {"metadata.name": "web", "status.phase": "Running", "spec.x": "a,b"}
    assert selector.matches(fields)
    assert not selector.matches({**fields, "status.phase": "Failed"})
    assert selector.fields() == ["metadata.name", "status.phase", "spec.x"]
    assert selector.value_of("metadata.name") == "web"
    assert parse_fields("").empty


def test_bad_field_selector() -> None:
    """A term without an operator is refused as the apiserver words it."""
    with pytest.raises(SelectorError, match="invalid selector: 'metadata.name'"):
        parse_fields("metadata.name")


def test_unsupported_field_label() -> None:
    """Selecting on a field the kind does not index names that field."""
    with pytest.raises(SelectorError, match="field label not supported: spec.foo"):
        check_fields(parse_fields("spec.foo=1"), {"metadata.name"})
