"""Turn what a user types (`po`, `pods`, `Pod`, `deployments.extensions`) into a resource."""

from __future__ import annotations

from typing import Any

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo


class UnknownResource(Exception):
    """The name matches no served resource."""


def resolve(name: str) -> ResourceInfo:
    """The served resource a kubectl-style name means; the first listed version wins.

    `kind.group` or `plural.group` (and `plural.version.group`) pick a group explicitly.
    """
    wanted = name.strip()
    word, _, qualifier = wanted.partition(".")
    word = word.lower()
    version, group = "", qualifier
    if qualifier and "." in qualifier and _looks_like_version(qualifier.split(".", 1)[0]):
        version, group = qualifier.split(".", 1)
    for info in kinds.RESOURCES:
        if qualifier and info.group != group:
            continue
        if version and info.version != version:
            continue
        if word in (info.plural, info.singular, *info.short_names):
            return info
    raise UnknownResource(f'the server doesn\'t have a resource type "{name}"')


def resolve_many(names: str) -> list[ResourceInfo]:
    """`cm,deploy` or a category such as `all`: every resource meant, in order, once."""
    out: list[ResourceInfo] = []
    for word in filter(None, (w.strip() for w in names.split(","))):
        in_category = [info for info in kinds.RESOURCES if word.lower() in info.categories]
        out.extend(in_category or [resolve(word)])
    return list(dict.fromkeys(out))


def for_object(obj: Any) -> ResourceInfo:
    """The served resource of a manifest's apiVersion and kind."""
    if not isinstance(obj, dict):
        raise UnknownResource("a manifest must be a mapping with apiVersion and kind")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        raise UnknownResource("a manifest is missing apiVersion or kind")
    info = kinds.find_kind(str(api_version), str(kind))
    if info is None:
        raise UnknownResource(f'no matches for kind "{kind}" in version "{api_version}"')
    return info


def qualified(info: ResourceInfo) -> str:
    """How kubectl names a resource type in messages: `pod`, `deployment.apps`."""
    return f"{info.singular}.{info.group}" if info.group else info.singular


def _looks_like_version(word: str) -> bool:
    return word.startswith("v") and word[1:2].isdigit()
