"""Kubernetes' $(VAR) expansion and downward API values (pure)."""

from __future__ import annotations

import pytest

from minikube13.runtime.errors import PodRuntimeError
from minikube13.runtime.podenv import PodFacts, expand, field_value, resource_value

FACTS = PodFacts(secrets={}, config_maps={}, node_cpu_millis=4000, node_memory_bytes=1 << 30)
POD = {"metadata": {"name": "p", "labels": {"app": "web", "tier": "a\"b"},
                    "annotations": {"k": "v"}}, "spec": {"serviceAccountName": "sa"}}


@pytest.mark.parametrize("text, out", [
    ("$(A)-$(B)", "1-$(B)"), ("$$(A)", "$(A)"), ("$$", "$"), ("$(A", "$(A"),
    ("a$b", "a$b"), ("$(A)$(A)", "11"), ("", ""),
])
def test_expand(text: str, out: str) -> None:
    """$(VAR) expands defined names only; $$ is a literal $; unclosed stays as written."""
    assert expand(text, {"A": "1"}) == out


def test_field_values() -> None:
    """Labels/annotations render as sorted key="value" lines (quotes escaped); one label
    by key; the service account name; an unknown path is a config error."""
    assert field_value(POD, "metadata.labels", FACTS) == 'app="web"\ntier="a\\"b"'
    assert field_value(POD, "metadata.labels['app']", FACTS) == "web"
    assert field_value(POD, "metadata.annotations['k']", FACTS) == "v"
    assert field_value(POD, "spec.serviceAccountName", FACTS) == "sa"
    assert field_value(POD, "metadata.namespace", FACTS) == "default"
    with pytest.raises(PodRuntimeError):
        field_value(POD, "status.phase", FACTS)


def test_resource_values_default_to_the_node_and_round_up() -> None:
    """Unset limits mean the node's capacity; values round up in divisor units."""
    container = {"name": "c", "resources": {"requests": {"cpu": "250m"}}}
    assert resource_value(POD, container, {"resource": "limits.cpu"}, FACTS) == "4"
    assert resource_value(POD, container, {"resource": "requests.cpu"}, FACTS) == "1"
    assert resource_value(POD, container, {"resource": "requests.cpu", "divisor": "1m"},
                          FACTS) == "250"
    assert resource_value(POD, container, {"resource": "limits.memory", "divisor": "1Mi"},
                          FACTS) == "1024"
    assert resource_value(POD, container, {"resource": "requests.memory"}, FACTS) == "0"
    with pytest.raises(PodRuntimeError):
        resource_value(POD, container, {"resource": "limits.gpu"}, FACTS)
