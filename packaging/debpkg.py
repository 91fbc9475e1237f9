"""The `.deb`: a staged file tree plus DEBIAN/ metadata, packed by `dpkg-deb`.

`stage_tree()` lays out everything the package installs under one directory (no root
needed: `dpkg-deb --root-owner-group` makes every file root's); `build_deb()` packs it;
`lintian_errors()` returns lintian's E: lines. The pure parts (`control_text`,
`changelog_text`, the file plan) are what tests/unit/test_packaging*.py check.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEBIAN_DIR = HERE / "debian"

PACKAGE = "minikube13"
MAINTAINER = "minikube13 maintainers <minikube13@example.org>"
DEPENDS = ("runc", "iproute2", "nftables", "util-linux (>= 2.38)", "libc6 (>= 2.36)")
RECOMMENDS = ("systemd-container",)
LIB_DIR = "usr/lib/minikube13"
PROGRAM = f"{LIB_DIR}/minikube13"
COMMANDS = ("usr/bin/minikube13", "usr/bin/minikube13d")
UNIT_DIR = "lib/systemd/system"
DEFAULT_FILE = "etc/default/minikube13d"
IMAGES_DIR = "usr/share/minikube13/images"
DOC_DIR = "usr/share/doc/minikube13"
MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")
SUMMARY = "Kubernetes 1.3 node daemon in one program"
DESCRIPTION = """\
 minikube13 runs the Kubernetes 1.3 API server, its store (SQLite), the
 scheduler, the controllers and a pod runtime (runc) in one daemon, minikube13d,
 for bare-metal and edge machines. kubectl talks to it as to any Kubernetes API
 server.
 .
 The package installs the daemon and the minikube13 command, a systemd unit
 (not enabled: run `systemctl enable --now minikube13d`), its settings in
 /etc/default/minikube13d and a busybox base image."""


class PackagingError(Exception):
    """The package could not be built; the message says which step failed."""


@dataclass(frozen=True)
class DebInputs:
    """What goes into the package: the frozen program dir and the files from the repo."""

    version: str
    onedir: Path
    units: tuple[Path, ...]
    default_file: Path
    images: tuple[Path, ...]
    readme: Path
    architecture: str = "amd64"


def repo_inputs(version: str, onedir: Path, architecture: str) -> DebInputs:
    """The inputs as the repository lays them out (systemd/, build/images/, README.md)."""
    systemd_dir = ROOT / "systemd"
    units = tuple(sorted(p for p in systemd_dir.iterdir()
                         if p.suffix in (".service", ".socket", ".timer")))
    images = tuple(sorted((ROOT / "build" / "images").glob("*.oci")))
    return DebInputs(version=version, onedir=onedir, units=units,
                     default_file=systemd_dir / "minikube13d.default", images=images,
                     readme=ROOT / "README.md", architecture=architecture)


def control_text(inputs: DebInputs, installed_size_kib: int) -> str:
    """DEBIAN/control."""
    fields = [
        ("Package", PACKAGE),
        ("Version", inputs.version),
        ("Architecture", inputs.architecture),
        ("Maintainer", MAINTAINER),
        ("Installed-Size", str(installed_size_kib)),
        ("Depends", ", ".join(DEPENDS)),
        ("Recommends", ", ".join(RECOMMENDS)),
        ("Section", "admin"),
        ("Priority", "optional"),
        ("Description", f"{SUMMARY}\n{DESCRIPTION}"),
    ]
    return "".join(f"{name}: {value}\n" for name, value in fields)


def changelog_text(version: str, date: str) -> str:
    """The native package's changelog (lintian wants one; this project keeps no other)."""
    return (f"{PACKAGE} ({version}) unstable; urgency=medium\n\n"
            f"  * Release {version}: built from the repository by `make package`.\n\n"
            f" -- {MAINTAINER}  {date}\n")


def stage_tree(inputs: DebInputs, stage: Path, date: str) -> Path:
    """Lay out the package's files under `stage` (emptied first); returns `stage`."""
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    _stage_program(inputs.onedir, stage)
    _stage_system_files(inputs, stage)
    _stage_docs(inputs, stage, date)
    _stage_debian(inputs, stage)
    return stage


def _stage_program(onedir: Path, stage: Path) -> None:
    shutil.copytree(onedir, stage / LIB_DIR, symlinks=True)
    frozen = [p for p in (stage / LIB_DIR).iterdir() if p.is_file() and p.name != "minikube13"]
    if len(frozen) != 1:
        raise PackagingError(f"expected one program in {onedir}, found {frozen}")
    frozen[0].rename(stage / PROGRAM)
    for command in COMMANDS:
        link = stage / command
        link.parent.mkdir(parents=True, exist_ok=True)
        # relative: the staged tree is also usable as a root (tests chroot into it)
        link.symlink_to(os.path.relpath(stage / PROGRAM, link.parent))
    _normalise_modes(stage / LIB_DIR)


def _normalise_modes(top: Path) -> None:
    """0755 dirs and programs, 0644 data (lintian: no group/other write, no odd modes)."""
    for path in [top, *top.rglob("*")]:
        if path.is_symlink():
            continue
        if path.is_dir():
            path.chmod(0o755)
        else:
            executable = path.stat().st_mode & 0o111 and not path.name.endswith(".so") \
                and ".so." not in path.name
            path.chmod(0o755 if executable else 0o644)


def _stage_system_files(inputs: DebInputs, stage: Path) -> None:
    units = stage / UNIT_DIR
    units.mkdir(parents=True)
    for unit in inputs.units:
        _install(unit, units / unit.name, 0o644)
    _install(inputs.default_file, stage / DEFAULT_FILE, 0o644)
    images = stage / IMAGES_DIR
    images.mkdir(parents=True)
    for image in inputs.images:
        shutil.copytree(image, images / image.name)
        _normalise_modes(images / image.name)


def _stage_docs(inputs: DebInputs, stage: Path, date: str) -> None:
    doc = stage / DOC_DIR
    doc.mkdir(parents=True)
    _install(inputs.readme, doc / "README.md", 0o644)
    _install(DEBIAN_DIR / "copyright", doc / "copyright", 0o644)
    changelog = doc / "changelog.gz"
    # mtime=0: the same inputs give the same bytes
    with open(changelog, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                     filename="", compresslevel=9) as gz:
        gz.write(changelog_text(inputs.version, date).encode())
    changelog.chmod(0o644)
    overrides = DEBIAN_DIR / "lintian-overrides"
    if overrides.exists():
        target = stage / "usr/share/lintian/overrides" / PACKAGE
        target.parent.mkdir(parents=True)
        _install(overrides, target, 0o644)


def _stage_debian(inputs: DebInputs, stage: Path) -> None:
    meta = stage / "DEBIAN"
    meta.mkdir(mode=0o755)
    for script in MAINTAINER_SCRIPTS:
        _install(DEBIAN_DIR / script, meta / script, 0o755)
    (meta / "conffiles").write_text(f"/{DEFAULT_FILE}\n")
    (meta / "control").write_text(control_text(inputs, installed_size_kib(stage)))
    for name in ("conffiles", "control"):
        (meta / name).chmod(0o644)


def _install(source: Path, target: Path, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)


def installed_size_kib(stage: Path) -> int:
    """dpkg's Installed-Size: KiB, each file rounded up, DEBIAN/ not counted."""
    total = 0
    for path in stage.rglob("*"):
        if "DEBIAN" in path.relative_to(stage).parts[:1]:
            continue
        total += 1 if path.is_symlink() or path.is_dir() else -(-path.stat().st_size // 1024)
    return total


def build_deb(stage: Path, out_dir: Path, inputs: DebInputs) -> Path:
    """Pack `stage` into out_dir/minikube13_<version>_<arch>.deb."""
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"{PACKAGE}_{inputs.version}_{inputs.architecture}.deb"
    partial = out_dir / f".{deb.name}.partial"  # readers never see half a package
    cmd = ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(stage), str(partial)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        partial.unlink(missing_ok=True)
        raise PackagingError(f"dpkg-deb failed: {res.stderr.strip()}")
    os.replace(partial, deb)
    return deb


def lintian_errors(deb: Path) -> list[str]:
    """lintian's error lines for `deb` (warnings are printed by the caller, not fatal)."""
    res = subprocess.run(["lintian", "--no-tag-display-limit", str(deb)],
                         capture_output=True, text=True)
    return [line for line in res.stdout.splitlines() if line.startswith("E:")]
