"""Query parameters become registry options; bad values are 400s."""

from __future__ import annotations

import pytest

from minikube13.api import params
from minikube13.registry.errors import StatusError


def test_list_options() -> None:
    """Selectors, paging and watch settings come through; a name narrows the fields."""
    opts = params.list_options({"labelSelector": "a=b", "fieldSelector": "status.phase=Running",
                                "limit": "5", "continue": "t", "resourceVersion": "7",
                                "allowWatchBookmarks": "true", "timeoutSeconds": "30",
                                "sendInitialEvents": "false"}, name="p")
    assert opts.field_selector == "metadata.name=p,status.phase=Running"
    assert (opts.limit, opts.continue_token, opts.resource_version) == (5, "t", "7")
    assert opts.allow_bookmarks and opts.timeout_seconds == 30
    assert opts.send_initial_events is False


def test_write_and_delete_options() -> None:
    """dryRun=All, fieldValidation and DeleteOptions bodies over query values."""
    w = params.write_options({"fieldValidation": "Strict", "fieldManager": "kubectl"},
                             ["All"], None)
    assert w.dry_run and w.field_validation == "Strict"
    d = params.delete_options({"gracePeriodSeconds": "5", "propagationPolicy": "Orphan"}, [],
                              {"propagationPolicy": "Foreground",
                               "preconditions": {"uid": "u"}})
    assert (d.grace_period_seconds, d.propagation_policy, d.precondition_uid) == (
        5, "Foreground", "u")


@pytest.mark.parametrize("call", [
    lambda: params.list_options({"limit": "-1"}),
    lambda: params.list_options({"watch": "maybe", "allowWatchBookmarks": "perhaps"}),
    lambda: params.list_options({"resourceVersionMatch": "Newest"}),
    lambda: params.write_options({"fieldValidation": "Loose"}, [], None),
    lambda: params.write_options({}, ["Some"], None),
    lambda: params.delete_options({}, [], {"gracePeriodSeconds": "soon"}),
    lambda: params.delete_options({}, [], {"orphanDependents": True,
                                           "propagationPolicy": "Orphan"}),
])
def test_bad_values(call: object) -> None:
    """Values the apiserver would refuse are 400 BadRequest."""
    with pytest.raises(StatusError) as e:
        call()  # type: ignore[operator]
    assert e.value.code == 400
