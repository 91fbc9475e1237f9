"""`make package`: the single executable and the `.deb`, both into dist/.

    .venv/bin/python packaging/build.py [--dist dist] [--no-lintian] [--force]

Like make, it builds only when an input (minikube13/, packaging/, systemd/, build/images/,
pyproject.toml, README.md) is newer than dist/; a lock serialises concurrent builds.

PyInstaller (a build tool in the venv, installed by `make package`) freezes minikube13 once
(packaging/minikube13.spec) into two programs:
  dist/minikube13                     one self-contained executable (onefile): copy it to any
                                      x86-64 Debian 12 machine, no Python needed
  dist/minikube13_<version>_<arch>.deb  the same program as a directory (onedir) under
                                      /usr/lib/minikube13, with the unit, settings and images
The .deb does not ship the onefile: a onefile unpacks itself into /tmp on every start (each
pod's stage1 and every `certs` run would cost a 60 MB copy, kept on tmpfs while a pod
runs), and its bootloader forks, so sd_notify would come from a process other than the
unit's main PID (Type=notify with NotifyAccess=main ignores that).
"""

from __future__ import annotations

import argparse
import email.utils
import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def _sibling(name: str) -> ModuleType:
    """packaging/<name>.py as module m13_<name>: this directory is no package (the name
    `packaging` is PyPI's) and stays off sys.path."""
    module_name = f"m13_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec: dataclasses look their module up
    spec.loader.exec_module(module)
    return module


debpkg = _sibling("debpkg")
ROOT = HERE.parent
SPEC = HERE / "minikube13.spec"
DEFAULT_DIST = ROOT / "dist"
DEFAULT_WORK = ROOT / "build" / "pyinstaller"
PYINSTALLER_TIMEOUT_S = 900


@dataclass(frozen=True)
class Built:
    """What `make package` produced, and how long each part took."""

    onefile: Path
    deb: Path
    freeze_s: float
    deb_s: float


def project_version() -> str:
    """minikube13.__version__, read without importing the package."""
    text = (ROOT / "minikube13" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if match is None:
        raise debpkg.PackagingError("no __version__ in minikube13/__init__.py")
    return match.group(1)


def architecture() -> str:
    res = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return res.stdout.strip() or "amd64"


def build_date() -> str:
    """RFC 2822 date for the changelog: $SOURCE_DATE_EPOCH when set (reproducible builds)."""
    epoch = float(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    return email.utils.formatdate(epoch, usegmt=False)


def freeze(work: Path, frozen: Path) -> None:
    """Run PyInstaller on the spec: frozen/minikube13 (onefile) and frozen/onedir/."""
    shutil.rmtree(frozen, ignore_errors=True)
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(frozen), "--workpath", str(work), str(SPEC)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=PYINSTALLER_TIMEOUT_S)
    if res.returncode != 0:
        raise debpkg.PackagingError(f"PyInstaller failed:\n{res.stderr[-4000:]}")


def build_package(dist: Path = DEFAULT_DIST, lintian: bool = True) -> Built:
    """Build dist/minikube13 and dist/minikube13_<v>_<arch>.deb (the images must exist:
    `make images`)."""
    work = DEFAULT_WORK
    frozen = work / "frozen"
    inputs_read_at = time.time()
    started = time.monotonic()
    freeze(work / "work", frozen)
    freeze_s = time.monotonic() - started
    dist.mkdir(parents=True, exist_ok=True)
    onefile = dist / "minikube13"
    # a new file renamed over the old: a running dist/minikube13 keeps its own (ETXTBSY)
    shutil.copy2(frozen / "minikube13", dist / ".minikube13.new")
    os.replace(dist / ".minikube13.new", onefile)

    started = time.monotonic()
    inputs = debpkg.repo_inputs(project_version(), frozen / "onedir", architecture())
    if not inputs.images:
        raise debpkg.PackagingError("no base images in build/images: run `make images`")
    stage = debpkg.stage_tree(inputs, work / "stage", build_date())
    deb = debpkg.build_deb(stage, dist, inputs)
    for old in dist.glob(f"{debpkg.PACKAGE}_*.deb"):
        if old != deb:
            old.unlink()  # another version's
    if lintian and shutil.which("lintian"):
        errors = debpkg.lintian_errors(deb)
        if errors:
            deb.unlink()  # not left to look up to date
            raise debpkg.PackagingError("lintian errors:\n" + "\n".join(errors))
    for output in (onefile, deb):
        # dated when the inputs were read: an edit made during the build makes them stale
        os.utime(output, (inputs_read_at, inputs_read_at))
    return Built(onefile=onefile, deb=deb, freeze_s=freeze_s,
                 deb_s=time.monotonic() - started)


def find_deb(dist: Path = DEFAULT_DIST) -> Path | None:
    """The .deb `make package` left in dist, if any (the systemd tests install it)."""
    found = sorted(dist.glob(f"{debpkg.PACKAGE}_*.deb"))
    return found[-1] if found else None


def input_files() -> list[Path]:
    """Every file whose change should rebuild the package."""
    tops = [ROOT / "minikube13", HERE, ROOT / "systemd", ROOT / "build" / "images"]
    files = [ROOT / "pyproject.toml", ROOT / "README.md"]
    for top in tops:
        files += [p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix not in (".pyc", ".md")]
    return files


def is_fresh(dist: Path = DEFAULT_DIST) -> bool:
    """Both outputs exist and are newer than every input."""
    deb = find_deb(dist)
    onefile = dist / "minikube13"
    if deb is None or not onefile.exists():
        return False
    built = min(deb.stat().st_mtime, onefile.stat().st_mtime)
    return all(p.stat().st_mtime <= built for p in input_files())


def ensure_package(dist: Path = DEFAULT_DIST) -> tuple[Path, Path]:
    """(onefile, deb), running `make package` first unless dist is up to date (tests)."""
    if not is_fresh(dist):  # `make package` itself waits for a build already under way
        res = subprocess.run(["make", "-C", str(ROOT), "package", f"DIST={dist}"],
                             capture_output=True, text=True, timeout=PYINSTALLER_TIMEOUT_S)
        if res.returncode != 0:
            raise debpkg.PackagingError(f"make package failed:\n{res.stdout[-3000:]}"
                                        f"\n{res.stderr[-3000:]}")
    deb = find_deb(dist)
    if deb is None:
        raise debpkg.PackagingError(f"make package left no .deb in {dist}")
    return dist / "minikube13", deb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build dist/minikube13 and the .deb.")
    parser.add_argument("--dist", type=Path, default=DEFAULT_DIST)
    parser.add_argument("--no-lintian", action="store_true", help="skip the lintian check")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even when dist/ is newer than every input")
    args = parser.parse_args(argv)
    args.dist.mkdir(parents=True, exist_ok=True)
    with open(args.dist / ".build-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build into a dist at a time (parallel tests)
        if not args.force and is_fresh(args.dist):
            print(f"make package: {args.dist} is up to date (--force rebuilds)")
            return 0
        try:
            built = build_package(args.dist, lintian=not args.no_lintian)
        except debpkg.PackagingError as e:
            print(f"make package: {e}", file=sys.stderr)
            return 1
    for path in (built.onefile, built.deb):
        print(f"{path}  {path.stat().st_size / 2**20:.1f} MiB")
    print(f"freeze (PyInstaller) {built.freeze_s:.1f} s, stage + dpkg-deb + lintian "
          f"{built.deb_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
