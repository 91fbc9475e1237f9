"""`minikube13 images import|ls|pull|rm`: the image store on disk (<data-dir>/images),
the same one the daemon's pods use. Needs root, like the daemon."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from minikube13.runtime.images import (
    Image,
    ImageError,
    ImageStore,
    RegistryAuth,
    parse_reference,
)

DEFAULT_DATA_DIR = Path("/var/lib/minikube13")
F = TypeVar("F", bound=Callable[..., Any])


def data_dir_option(f: F) -> F:
    return click.option(
        "--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR,
        envvar="MINIKUBE13_DATA_DIR", show_default=True,
        help="The daemon's data dir; images live in <data-dir>/images.")(f)


@click.group()
def images() -> None:
    """Container images: import OCI layouts and archives, pull, list, remove."""


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (ImageError, OSError) as e:
        raise click.ClickException(str(e)) from None


@images.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@data_dir_option
def import_(paths: tuple[Path, ...], data_dir: Path) -> None:
    """Import OCI image layouts, OCI archives and `docker save` archives (pinned: never
    pulled again)."""
    store = ImageStore(data_dir / "images")
    with _errors():
        for path in paths:
            for image in store.import_path(path):
                click.echo(f"imported {_short(image.id)} {' '.join(_names(image)) or '<none>'}")


@images.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only image ids.")
@click.option("--digests", is_flag=True, help="Show manifest digests.")
@data_dir_option
def ls(quiet: bool, digests: bool, data_dir: Path) -> None:
    """List the images in the store."""
    with _errors():
        found = ImageStore(data_dir / "images").images()
    if quiet:
        for image in found:
            click.echo(_short(image.id))
        return
    rows = [["NAME", "IMAGE ID", *(["DIGEST"] if digests else []), "SIZE", "PINNED"]]
    for image in found:
        for name in _names(image) or ["<none>"]:
            rows.append([name, _short(image.id), *([image.digest] if digests else []),
                         _size(image.size), "yes" if image.pinned else "no"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@images.command("pull")
@click.argument("ref")
@click.option("--allow", "allow", multiple=True, envvar="MINIKUBE13_REGISTRY_ALLOW",
              help="host[:port] pattern pulls may use (repeat or comma-separate). [*]")
@click.option("--username", envvar="MINIKUBE13_REGISTRY_USERNAME", default="",
              help="Registry user (Basic or token auth).")
@click.option("--password", envvar="MINIKUBE13_REGISTRY_PASSWORD", default="",
              help="Registry password (better: the environment variable).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@data_dir_option
def pull(ref: str, allow: tuple[str, ...], username: str, password: str, quiet: bool,
         data_dir: Path) -> None:
    """Pull REF from its Docker Registry v2 registry, showing progress."""
    allowed = [p for item in allow for p in item.split(",") if p] or ["*"]
    auth = RegistryAuth(username=username, password=password) if username else None
    store = ImageStore(data_dir / "images")
    with _errors():
        image = asyncio.run(_pull(store, ref, auth, allowed, quiet))
    click.echo(f"pulled {_short(image.id)} {image.digest} {' '.join(_names(image))}")


async def _pull(store: ImageStore, ref: str, auth: RegistryAuth | None, allowed: list[str],
                quiet: bool) -> Image:
    if quiet or not sys.stderr.isatty():
        return await store.pull(ref, auth=auth, allowed=allowed)
    with click.progressbar(length=1, label=f"pulling {parse_reference(ref).familiar}",
                           file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)
        return await store.pull(ref, auth=auth, progress=progress, allowed=allowed)


@images.command("rm")
@click.argument("refs", nargs=-1, required=True)
@data_dir_option
def rm(refs: tuple[str, ...], data_dir: Path) -> None:
    """Remove names or images (by id); an image a pod uses is kept."""
    store = ImageStore(data_dir / "images")
    with _errors():
        in_use = _images_in_use(data_dir)
        for ref in refs:
            store.remove(ref, in_use)
            click.echo(f"removed {ref}")


def _images_in_use(data_dir: Path) -> set[str]:
    """What the pods under <data-dir>/pods use, asked of the pod runtime when it is built
    in; the store refuses anyway to drop layers an overlay still mounts."""
    try:
        pods = importlib.import_module("minikube13.runtime.pods")
    except ImportError:
        return set()
    runtime = pods.PodRuntime(data_dir, self_command=[sys.executable, "-m", "minikube13"])
    return set(runtime.images_in_use())


def _names(image: Image) -> list[str]:
    return [parse_reference(n).familiar for n in image.names]


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1000
    return f"{size:.1f}GB"
