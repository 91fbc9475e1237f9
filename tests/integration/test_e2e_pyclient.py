"""The official `kubernetes` Python client against a test daemon: create, list, watch
(resuming from a resourceVersion), patch and delete."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .e2e_support import ensure_namespace

NS = "e2e-pyclient"


@pytest.fixture(scope="module")
def api(daemon: Any) -> Iterator[client.ApiClient]:
    ensure_namespace(daemon, NS)
    api_client = config.new_client_from_config(config_file=str(daemon.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


def _cm(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"e2e": "py"}),
                              data=dict(data))


def test_create_list_patch_delete(api: client.ApiClient) -> None:
    """The Python client creates, lists, patches and deletes ConfigMaps and Deployments."""
    core: Any = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(NS, _cm("py-crud", k="v1"))
    assert created.metadata.uid and created.metadata.resource_version
    listed = core.list_namespaced_config_map(NS, label_selector="e2e=py")
    assert "py-crud" in [i.metadata.name for i in listed.items]
    assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)
    patched = core.patch_namespaced_config_map("py-crud", NS, {"data": {"k": "v2"}})
    assert patched.data == {"k": "v2"}
    assert core.read_namespaced_config_map("py-crud", NS).data["k"] == "v2"
    core.delete_namespaced_config_map("py-crud", NS)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("py-crud", NS)
    assert err.value.status == 404

    apps: Any = client.AppsV1Api(api)
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py-deploy"),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels={"app": "py"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py"}),
                spec=client.V1PodSpec(containers=[
                    client.V1Container(name="m", image="busybox:1.35")]))))
    apps.create_namespaced_deployment(NS, deployment)
    scaled = apps.patch_namespaced_deployment("py-deploy", NS, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    scale = apps.read_namespaced_deployment_scale("py-deploy", NS)
    assert scale.spec.replicas == 3
    apps.delete_namespaced_deployment("py-deploy", NS, propagation_policy="Foreground")


def test_watch_resumes_from_resource_version(api: client.ApiClient) -> None:
    """A watch from a resourceVersion sees the changes after it, none before, in order."""
    core: Any = client.CoreV1Api(api)
    core.create_namespaced_config_map(NS, _cm("py-w-a"))
    mark = core.create_namespaced_config_map(NS, _cm("py-w-b")).metadata.resource_version
    core.create_namespaced_config_map(NS, _cm("py-w-c"))
    seen: list[tuple[str, str, int]] = []
    started = threading.Event()

    def follow() -> None:
        w = watch.Watch()
        started.set()
        for event in w.stream(core.list_namespaced_config_map, NS, resource_version=mark,
                              label_selector="e2e=py", timeout_seconds=3):
            meta = event["object"].metadata
            seen.append((event["type"], meta.name, int(meta.resource_version)))

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    started.wait()
    core.patch_namespaced_config_map("py-w-c", NS, {"data": {"x": "1"}})
    core.delete_namespaced_config_map("py-w-a", NS)
    t.join(timeout=15)
    names = [(kind, name) for kind, name, _ in seen if name.startswith("py-w-")]
    assert names == [("ADDED", "py-w-c"), ("MODIFIED", "py-w-c"), ("DELETED", "py-w-a")], seen
    revisions = [rv for _, _, rv in seen]
    assert revisions == sorted(revisions) and revisions[0] > int(mark)


def test_list_paginates_with_limit_and_continue(api: client.ApiClient) -> None:
    """list with limit/continue returns every object once, in pages."""
    core: Any = client.CoreV1Api(api)
    for i in range(7):
        core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"py-page-{i}", labels={"e2e": "page"})))
    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(NS, label_selector="e2e=page", limit=3,
                                               _continue=token)
        names += [i.metadata.name for i in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert sorted(names) == [f"py-page-{i}" for i in range(7)] and pages == 3
