"""`minikube13 get|apply|delete|describe`: kubectl's everyday verbs over the local socket."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from minikube13.cli import output
from minikube13.cli.resources import (
    UnknownResource,
    for_object,
    qualified,
    resolve,
    resolve_many,
)
from minikube13.client.http import (
    DEFAULT_SOCKET,
    TABLE_ACCEPT,
    ClientError,
    SocketClient,
    resource_path,
)
from minikube13.model.kinds import ResourceInfo

Object = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])
APPLY_RETRIES = 3


def socket_option(f: F) -> F:
    return click.option(
        "--socket", "socket_path", type=click.Path(path_type=Path), default=DEFAULT_SOCKET,
        envvar="MINIKUBE13_SOCKET", show_default=True, help="The daemon's local API socket.",
    )(f)


def namespace_option(f: F) -> F:
    return click.option("-n", "--namespace", default="default", show_default=True,
                        help="Namespace of namespaced objects.")(f)


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-l", "--selector", default="", help="Label selector, e.g. app=web.")
@click.option("-o", "--output", "fmt", type=click.Choice(["yaml", "json", "name", "wide"]))
@socket_option
def get(kind: str, name: str | None, namespace: str, all_namespaces: bool, selector: str,
        fmt: str | None, socket_path: Path) -> None:
    """Show objects: `get pods`, `get deploy web -o yaml`, `get cm,secrets`, `get all -A`."""
    client = SocketClient(socket_path)
    with _errors():
        infos = resolve_many(kind)
        if name and len(infos) != 1:
            raise click.UsageError("a NAME goes with exactly one kind")
        ns = "" if all_namespaces and not name else namespace
        query = {"labelSelector": selector} if selector and not name else None
        if fmt in (None, "wide"):
            _print_tables(client, infos, name, query, fmt == "wide", ns, all_namespaces)
            return
        found: list[tuple[ResourceInfo, Object]] = []
        for info in infos:
            body = client.get(resource_path(info, ns, name or ""), query=query)
            found += [(info, obj) for obj in ([body] if name else body.get("items") or [])]
        if fmt == "name":
            for info, obj in found:
                click.echo(output.name_of(info, obj))
        elif name:
            click.echo(output.dump(output.with_type(*found[0]), str(fmt)))
        else:
            typed = [output.with_type(info, obj) for info, obj in found]
            click.echo(output.dump(output.as_list(typed), str(fmt)))


def _print_tables(client: SocketClient, infos: list[ResourceInfo], name: str | None,
                  query: dict[str, str] | None, wide: bool, namespace: str,
                  all_namespaces: bool) -> None:
    """One table per kind, names prefixed with the kind when there are several."""
    sections = []
    for info in infos:
        body = client.get(resource_path(info, namespace, name or ""), query=query,
                          accept=TABLE_ACCEPT)
        with_ns = all_namespaces and info.namespaced
        prefix = f"{qualified(info)}/" if len(infos) > 1 else ""
        if body.get("kind") == "Table":
            if body.get("rows"):
                sections.append(output.as_table(body, wide=wide, namespace_column=with_ns,
                                                name_prefix=prefix))
            continue
        items = body.get("items") if "items" in body else [body]
        if items:
            sections.append(output.fallback_table(items, namespace_column=with_ns,
                                                  now=output.now_utc()))
    if sections:
        click.echo("\n\n".join(sections))
    else:
        where = f" in {namespace} namespace" if namespace and any(i.namespaced for i in infos) \
            else ""
        click.echo(f"No resources found{where}.", err=True)


@click.command()
@click.option("-f", "--filename", required=True, type=click.File("r"),
              help="Manifest file (multi-document YAML or JSON); - reads stdin.")
@namespace_option
@socket_option
def apply(filename: Any, namespace: str, socket_path: Path) -> None:
    """Create or update every object in a manifest."""
    client = SocketClient(socket_path)
    failed = False
    with _errors():
        objects = list(_manifest_objects(filename))
    for obj in objects:
        try:
            info = for_object(obj)
            verb = _apply_one(client, info, obj, namespace)
            click.echo(f"{output.name_of(info, obj)} {verb}")
        except (ClientError, UnknownResource) as e:
            click.echo(f"Error: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


def _apply_one(client: SocketClient, info: ResourceInfo, obj: Object, namespace: str) -> str:
    meta = obj.setdefault("metadata", {})
    ns = meta.setdefault("namespace", namespace) if info.namespaced else ""
    name = meta.get("name", "")
    try:
        client.request("POST", resource_path(info, ns), obj)
        return "created"
    except ClientError as e:
        if e.reason != "AlreadyExists" or not name:
            raise
    for attempt in range(APPLY_RETRIES):
        current = client.get(resource_path(info, ns, name))
        old_rv = (current.get("metadata") or {}).get("resourceVersion", "")
        meta["resourceVersion"] = old_rv
        try:
            updated = client.request("PUT", resource_path(info, ns, name), obj).body
        except ClientError as e:
            if e.reason == "Conflict" and attempt + 1 < APPLY_RETRIES:
                continue  # someone wrote in between: read again and retry
            raise
        new_rv = (updated.get("metadata") or {}).get("resourceVersion", "")
        return "unchanged" if new_rv == old_rv else "configured"
    raise AssertionError("unreachable")


@click.command()
@click.argument("kind", required=False)
@click.argument("names", nargs=-1)
@click.option("-f", "--filename", type=click.File("r"), help="Delete what a manifest names.")
@namespace_option
@socket_option
def delete(kind: str | None, names: tuple[str, ...], filename: Any, namespace: str,
           socket_path: Path) -> None:
    """Delete objects: `delete pod web-1`, `delete -f app.yaml`."""
    client = SocketClient(socket_path)
    with _errors():
        targets = _delete_targets(kind, names, filename, namespace)
    failed = False
    for info, ns, name in targets:
        try:
            client.request("DELETE", resource_path(info, ns, name))
            click.echo(f'{qualified(info)} "{name}" deleted')
        except ClientError as e:
            click.echo(f"Error: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


def _delete_targets(kind: str | None, names: tuple[str, ...], filename: Any,
                    namespace: str) -> list[tuple[ResourceInfo, str, str]]:
    if filename is not None:
        if kind:
            raise click.UsageError("give either KIND NAME... or -f FILE, not both")
        out = []
        for obj in _manifest_objects(filename):
            info = for_object(obj)
            meta = obj.get("metadata") or {}
            ns = (meta.get("namespace") or namespace) if info.namespaced else ""
            out.append((info, ns, str(meta.get("name", ""))))
        return out
    if not kind or not names:
        raise click.UsageError("say what to delete: KIND NAME... or -f FILE")
    info = resolve(kind)
    return [(info, namespace if info.namespaced else "", n) for n in names]


@click.command()
@click.argument("kind")
@click.argument("name")
@namespace_option
@socket_option
def describe(kind: str, name: str, namespace: str, socket_path: Path) -> None:
    """Show one object in detail, with its recent events."""
    client = SocketClient(socket_path)
    with _errors():
        info = resolve(kind)
        ns = namespace if info.namespaced else ""
        obj = client.get(resource_path(info, ns, name))
        events = _events_for(client, info, ns, name)
        click.echo(output.describe_text(info, obj, events, output.now_utc()))


def _events_for(client: SocketClient, info: ResourceInfo, ns: str, name: str) -> list[Object]:
    selector = f"involvedObject.kind={info.kind},involvedObject.name={name}"
    path = f"/api/v1/namespaces/{ns or 'default'}/events"
    try:
        body = client.get(path, query={"fieldSelector": selector})
    except ClientError:
        return []  # events are a nicety: describe still shows the object
    return list(body.get("items") or [])


def _manifest_objects(stream: Any) -> Iterator[Object]:
    """Every object in a YAML/JSON stream; `kind: List` documents are unpacked."""
    import yaml  # here, not at the top: `minikube13 daemon` never needs it
    try:
        docs = list(yaml.safe_load_all(stream))
    except yaml.YAMLError as e:
        raise click.ClickException(f"cannot parse {stream.name}: {e}") from None
    for doc in docs:
        if doc is None:
            continue
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") \
                and isinstance(doc.get("items"), list):
            yield from doc["items"]
        else:
            yield doc


@contextmanager
def _errors() -> Iterator[None]:
    """Turn client errors into `Error: ...` and exit code 1, without a traceback."""
    try:
        yield
    except (ClientError, UnknownResource) as e:
        raise click.ClickException(str(e)) from None
