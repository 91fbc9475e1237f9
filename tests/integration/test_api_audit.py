"""Every API mutation leaves one audit record; reads leave none."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube13.api.audit import AUDIT_MESSAGE_ID, LOGGER
from minikube13.daemon.journal import JournalHandler
from minikube13.testing.fake_journal import FakeJournal

from .test_api_support import APIServerThread, serve

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def journal() -> Iterator[FakeJournal]:
    fake = FakeJournal()
    handler = JournalHandler(fake)
    log = logging.getLogger(LOGGER)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield fake
    finally:
        log.removeHandler(handler)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[APIServerThread]:
    yield from serve(tmp_path)


def _pod(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _verbs(journal: FakeJournal) -> list[tuple[str, str, str, str]]:
    return [(e["AUDIT_VERB"], e["AUDIT_RESOURCE"], e["AUDIT_NAME"], e["AUDIT_CODE"])
            for e in journal.matching(MESSAGE_ID=AUDIT_MESSAGE_ID)]


def test_mutations_are_audited_with_user_verb_and_result(api: APIServerThread,
                                                        journal: FakeJournal) -> None:
    """create, patch, update of status, delete and deletecollection: one record each."""
    assert api.http("POST", PODS, _pod("web")).status == 201
    api.http("GET", PODS)
    api.http("GET", PODS + "/web")
    patch = {"metadata": {"labels": {"x": "y"}}}
    assert api.http("PATCH", PODS + "/web", patch,
                    {"Content-Type": "application/merge-patch+json"}).status == 200
    current = api.http("GET", PODS + "/web").json()
    assert api.http("PUT", PODS + "/web/status", current).status == 200
    assert api.http("DELETE", PODS + "/missing").status == 404
    assert api.http("DELETE", PODS + "/web").status in (200, 202)
    api.http("DELETE", PODS + "?labelSelector=a%3Db")
    assert _verbs(journal) == [
        ("create", "pods", "", "201"), ("patch", "pods", "web", "200"),
        ("update", "pods/status", "web", "200"), ("delete", "pods", "missing", "404"),
        ("delete", "pods", "web", _verbs(journal)[4][3]),
        ("deletecollection", "pods", "", "200")]
    first = journal.matching(MESSAGE_ID=AUDIT_MESSAGE_ID)[0]
    assert first["AUDIT_USER"] == "admin" and first["AUDIT_NAMESPACE"] == "default"
    assert first["COMPONENT"] == LOGGER and first["NAMESPACE"] == "default"
    assert journal.matching(AUDIT_VERB="patch")[0]["OBJECT"] == "pods/default/web"
    assert "verb=create" in first["MESSAGE"]
