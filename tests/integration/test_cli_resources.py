"""How the CLI understands kind names and prints what it gets (no daemon needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from minikube13.cli import output
from minikube13.cli.resources import UnknownResource, for_object, qualified, resolve


@pytest.mark.parametrize(("typed", "api_version", "plural"), [
    ("po", "v1", "pods"), ("pods", "v1", "pods"), ("Pod", "v1", "pods"),
    ("ns", "v1", "namespaces"), ("cm", "v1", "configmaps"),
    ("deploy", "apps/v1", "deployments"),
    ("deployments.extensions", "extensions/v1beta1", "deployments"),
    ("deployment.v1beta1.extensions", "extensions/v1beta1", "deployments"),
    ("petsets", "apps/v1alpha1", "petsets"), ("scheduledjob", "batch/v2alpha1", "scheduledjobs"),
    ("cj", "batch/v1", "cronjobs"), ("roles.rbac.authorization.k8s.io",
                                     "rbac.authorization.k8s.io/v1", "roles"),
])
def test_kind_names_resolve_like_kubectl(typed: str, api_version: str, plural: str) -> None:
    """Short names, plurals, kinds and group-qualified names all find their resource."""
    info = resolve(typed)
    assert (info.api_version, info.plural) == (api_version, plural)


def test_unknown_kind_is_reported_like_kubectl() -> None:
    """An unknown name gives kubectl's wording."""
    with pytest.raises(UnknownResource, match='resource type "widgets"'):
        resolve("widgets")


def test_manifest_kind_resolves_to_its_served_version() -> None:
    """A manifest's apiVersion/kind picks the served version it was written for."""
    info = for_object({"apiVersion": "extensions/v1beta1", "kind": "Deployment"})
    assert qualified(info) == "deployment.extensions"
    with pytest.raises(UnknownResource, match='no matches for kind "Widget"'):
        for_object({"apiVersion": "v1", "kind": "Widget"})


def test_table_hides_wide_columns_unless_asked() -> None:
    """Priority-1 columns appear only with -o wide; -A adds a NAMESPACE column."""
    table = {"kind": "Table", "columnDefinitions": [
        {"name": "Name", "priority": 0}, {"name": "Node", "priority": 1}],
        "rows": [{"cells": ["web-1", "n1"], "object": {"metadata": {"namespace": "prod"}}}]}
    assert output.as_table(table, wide=False, namespace_column=False).split() == \
        ["NAME", "web-1"]
    assert output.as_table(table, wide=True, namespace_column=True).split() == \
        ["NAMESPACE", "NAME", "NODE", "prod", "web-1", "n1"]


@pytest.mark.parametrize(("seconds", "shown"), [(5, "5s"), (90, "90s"), (150, "2m"), (7000, "116m"),
                                                (3 * 3600, "3h"), (5 * 86400, "5d")])
def test_age_is_printed_like_kubectl(seconds: int, shown: str) -> None:
    """Ages are short: seconds, minutes, then hours and days."""
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    then = datetime.fromtimestamp(now.timestamp() - seconds, UTC)
    assert output.age(then.strftime("%Y-%m-%dT%H:%M:%SZ"), now) == shown


def test_describe_keeps_user_keys_as_written() -> None:
    """describe shows labels and data keys exactly as the user wrote them."""
    obj = {"metadata": {"name": "c", "namespace": "default", "labels": {"App": "x"}},
           "data": {"myKey": "v"}}
    text = output.describe_text(resolve("cm"), obj, [], datetime.now(UTC))
    assert "App=x" in text and "myKey:  v" in text and "Events:" in text
