"""Watch streams over real HTTP: one JSON event per line, Tables, 410, clean endings."""

from __future__ import annotations

import json
import socket
import time

try:  # tests/integration is a package in some checkouts, a plain directory in others
    from .test_api_support import APIServerThread, api  # noqa: F401  (fixture)
except ImportError:
    from test_api_support import APIServerThread, api  # type: ignore[no-redef]  # noqa: F401

PODS = "/api/v1/namespaces/default/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def pod(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name,
                                                            "labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


class RawWatch:
    """A watch request on a plain socket, read line by line as the events arrive."""

    def __init__(self, api: APIServerThread, path: str, accept: str = "application/json"):
        self.sock = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n"
                          .encode())
        self.file = self.sock.makefile("rb")
        self.status = int(self.file.readline().split()[1])
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().strip()):
            key, _, value = line.decode().partition(":")
            self.headers[key.lower()] = value.strip()

    def events(self) -> list[dict[str, object]]:
        """Read chunks until the stream ends; one JSON event per line."""
        out: list[dict[str, object]] = []
        while True:
            size = int(self.file.readline().strip(), 16)
            if size == 0:
                return out
            chunk = self.file.read(size)
            self.file.readline()
            out += [json.loads(line) for line in chunk.splitlines() if line.strip()]

    def next_event(self) -> dict[str, object]:
        size = int(self.file.readline().strip(), 16)
        chunk = self.file.read(size)
        self.file.readline()
        return json.loads(chunk)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_watch_streams_each_event_as_it_happens(api: APIServerThread) -> None:
    """A watch sees ADDED/MODIFIED/DELETED lines as they happen, then ends on its timeout."""
    api.http("POST", PODS, pod("w1"))
    rv = api.http("GET", PODS + "/w1").json()["metadata"]["resourceVersion"]
    watch = RawWatch(api, f"{PODS}?watch=true&resourceVersion={rv}&timeoutSeconds=3"
                          "&labelSelector=app%3Dw1")
    try:
        assert watch.status == 200 and watch.headers["content-type"] == "application/json"
        assert watch.headers["transfer-encoding"] == "chunked"
        api.http("PATCH", PODS + "/w1", json.dumps({"metadata": {"labels": {"x": "1"}}}),
                 {"Content-Type": "application/merge-patch+json"})
        event = watch.next_event()
        assert event["type"] == "MODIFIED"
        api.http("DELETE", PODS + "/w1")
        started = time.monotonic()
        rest = watch.events()
        assert time.monotonic() - started < 6
        assert [e["type"] for e in rest][-1] == "DELETED"
    finally:
        watch.close()


def test_watch_as_table(api: APIServerThread) -> None:
    """Table watch events hold one row; column definitions come with the first only."""
    api.http("POST", PODS, pod("wt"))
    watch = RawWatch(api, f"{PODS}?watch=true&timeoutSeconds=2&labelSelector=app%3Dwt",
                     TABLE)
    try:
        first = watch.next_event()
        api.http("PATCH", PODS + "/wt", json.dumps({"metadata": {"labels": {"x": "1"}}}),
                 {"Content-Type": "application/merge-patch+json"})
        later = watch.events()
    finally:
        watch.close()
    obj = first["object"]
    assert first["type"] == "ADDED" and obj["kind"] == "Table"  # type: ignore[index]
    assert obj["columnDefinitions"] and obj["rows"][0]["cells"][0] == "wt"  # type: ignore[index]
    assert later and later[0]["object"]["columnDefinitions"] == []  # type: ignore[index]


def test_old_watch_prefix_and_single_object(api: APIServerThread) -> None:
    """/api/v1/watch/namespaces/ns/pods/name watches that one pod."""
    api.http("POST", PODS, pod("wp"))
    api.http("POST", PODS, pod("other"))
    watch = RawWatch(api, "/api/v1/watch/namespaces/default/pods/wp?timeoutSeconds=1")
    try:
        events = watch.events()
    finally:
        watch.close()
    assert [e["object"]["metadata"]["name"] for e in events] == ["wp"]  # type: ignore[index]


def test_compacted_resource_version_is_410(api: APIServerThread) -> None:
    """A watch from a compacted resourceVersion gets 410 Expired (or an ERROR event)."""
    for i in range(3):
        api.http("POST", PODS, pod(f"old-{i}"))
    current = int(api.http("GET", PODS).json()["metadata"]["resourceVersion"])
    api.run(api.store.compact(current))
    watch = RawWatch(api, f"{PODS}?watch=true&resourceVersion=1&timeoutSeconds=2")
    try:
        if watch.status == 200:
            event = watch.next_event()
            assert event["type"] == "ERROR" and event["object"]["code"] == 410  # type: ignore[index]
        else:
            assert watch.status == 410
    finally:
        watch.close()


def test_disconnect_leaves_no_tasks(api: APIServerThread) -> None:
    """Clients that hang up mid-watch leave no task or watcher behind in the server."""
    before = api.open_tasks()
    watches = [RawWatch(api, f"{PODS}?watch=true") for _ in range(5)]
    time.sleep(0.3)
    assert api.open_tasks() > before
    metrics = api.http("GET", "/metrics").body.decode()
    assert 'apiserver_registered_watchers{resource="pods"} 5' in metrics
    for w in watches:
        w.close()
    deadline = time.monotonic() + 5
    while api.open_tasks() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.open_tasks() <= before
    metrics = api.http("GET", "/metrics").body.decode()
    assert 'apiserver_registered_watchers{resource="pods"} 0' in metrics
