"""The apiserver's checks in front of pods/log, exec and attach (pure helpers)."""

from __future__ import annotations

import pytest

from minikube13.api.pod_streams import choose_container, log_options, waiting_reason
from minikube13.registry.errors import StatusError


def pod(*names: str, init: tuple[str, ...] = (), status: dict | None = None) -> dict:
    return {"metadata": {"name": "web"},
            "spec": {"containers": [{"name": n} for n in names],
                     "initContainers": [{"name": n} for n in init]},
            "status": status or {}}


def test_container_choice_like_the_apiserver() -> None:
    """One container is the default; several need -c; init containers can be named."""
    assert choose_container(pod("a"), "") == "a"
    assert choose_container(pod("a", "b", init=("i",)), "i") == "i"
    with pytest.raises(StatusError) as e:
        choose_container(pod("a", "b", init=("i",)), "")
    assert e.value.message == ("a container name must be specified for pod web, choose one "
                               "of: [i a b]")
    with pytest.raises(StatusError) as e:
        choose_container(pod("a"), "z")
    assert (e.value.code, e.value.message) == (400, "container z is not valid for pod web")


def test_waiting_reason_comes_from_the_status() -> None:
    status = {"containerStatuses": [{"name": "a", "state": {"waiting": {
        "reason": "ErrImagePull"}}}]}
    assert waiting_reason(pod("a", status=status), "a") == "ErrImagePull"
    assert waiting_reason(pod("a"), "a") == "ContainerCreating"


def test_log_options_parse_and_validate() -> None:
    """sinceSeconds becomes an absolute time; bad values are a 422 PodLogOptions."""
    opts = log_options({"follow": "true", "tailLines": "3", "sinceSeconds": "10",
                        "timestamps": "1"}, "web", now=1000.0)
    assert (opts.follow, opts.tail_lines, opts.timestamps) == (True, 3, True)
    assert opts.since_ns == 990 * 10**9
    assert log_options({"sinceTime": "2023-11-14T22:13:20Z"}, "web", 0).since_ns == \
        1_700_000_000 * 10**9
    assert log_options({"sinceTime": "2023-11-14T23:13:20+01:00"}, "web", 0).since_ns == \
        1_700_000_000 * 10**9
    with pytest.raises(StatusError) as e:
        log_options({"sinceSeconds": "5", "sinceTime": "2023-11-14T22:13:20Z"}, "web", 0)
    assert e.value.code == 422
    assert "at most one of `sinceTime` or `sinceSeconds` may be specified" in e.value.message
    with pytest.raises(StatusError) as e:
        log_options({"sinceTime": "yesterday"}, "web", 0)
    assert e.value.code == 400
