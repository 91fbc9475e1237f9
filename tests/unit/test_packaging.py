"""The .deb's staged tree and control file (packaging/debpkg.py), built from a fake frozen
program: no PyInstaller, no root, no dpkg-deb."""

from __future__ import annotations

import gzip
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATE = "Thu, 26 Nov 2026 12:00:00 +0000"


def load_packaging_module(name: str) -> ModuleType:
    """packaging/<name>.py (packaging/ is no package: the name is taken by PyPI's)."""
    spec = importlib.util.spec_from_file_location(f"m13_{name}", ROOT / "packaging" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


debpkg = load_packaging_module("debpkg")


def fake_onedir(top: Path) -> Path:
    """What PyInstaller's onedir build leaves: a program and its _internal/ dir."""
    onedir = top / "onedir"
    (onedir / "_internal" / "aiohttp").mkdir(parents=True)
    program = onedir / "minikube13-onedir"
    program.write_bytes(b"\x7fELF fake program")
    program.chmod(0o775)
    (onedir / "_internal" / "libpython3.11.so.1.0").write_bytes(b"\x7fELF lib")
    (onedir / "_internal" / "libpython3.11.so.1.0").chmod(0o775)
    (onedir / "_internal" / "aiohttp" / "_http.so").write_bytes(b"ext")
    (onedir / "_internal" / "base_library.zip").write_bytes(b"PK")
    return onedir


@pytest.fixture
def inputs(tmp_path: Path) -> Any:
    image = tmp_path / "images" / "busybox.oci"
    (image / "blobs" / "sha256").mkdir(parents=True)
    (image / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    (image / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return debpkg.DebInputs(
        version="1.2.3", onedir=fake_onedir(tmp_path),
        units=(ROOT / "systemd" / "minikube13d.service",),
        default_file=ROOT / "systemd" / "minikube13d.default", images=(image,),
        readme=ROOT / "README.md", architecture="amd64")


@pytest.fixture
def stage(inputs: Any, tmp_path: Path) -> Path:
    return debpkg.stage_tree(inputs, tmp_path / "stage", DATE)


def control_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith(" "):
            fields[name] += "\n" + line
        else:
            name, _, value = line.partition(": ")
            fields[name] = value
    return fields


def test_control_names_the_package_version_and_runtime_dependencies(inputs: Any) -> None:
    """`dpkg -I` shows minikube13 with Depends on runc, iproute2, nftables, util-linux, libc6."""
    fields = control_fields(debpkg.control_text(inputs, 1234))
    assert fields["Package"] == "minikube13"
    assert fields["Version"] == "1.2.3"
    assert fields["Architecture"] == "amd64"
    assert fields["Installed-Size"] == "1234"
    depends = [d.split(" ")[0] for d in fields["Depends"].split(", ")]
    assert depends == ["runc", "iproute2", "nftables", "util-linux", "libc6"]
    assert "@" in fields["Maintainer"] and "localhost" not in fields["Maintainer"]


def test_control_description_is_well_formed(inputs: Any) -> None:
    """The extended description: continuation lines start with a space and fit 80 columns."""
    text = debpkg.control_text(inputs, 1)
    assert text.endswith("\n")
    synopsis, *extended = control_fields(text)["Description"].split("\n")
    assert synopsis and len(synopsis) < 80
    assert extended and all(line.startswith(" ") and len(line) <= 80 for line in extended)


def test_program_and_both_commands_are_staged(stage: Path) -> None:
    """/usr/bin/minikube13 and /usr/bin/minikube13d both run /usr/lib/minikube13/minikube13."""
    program = stage / "usr/lib/minikube13/minikube13"
    assert program.read_bytes().startswith(b"\x7fELF")
    assert program.stat().st_mode & 0o777 == 0o755
    assert not (stage / "usr/lib/minikube13/minikube13-onedir").exists()
    for command in ("minikube13", "minikube13d"):
        link = stage / "usr/bin" / command
        assert link.is_symlink()
        assert not os.readlink(link).startswith("/"), "relative, so the tree works as a root"
        assert link.resolve() == program.resolve()
    assert (stage / "usr/lib/minikube13/_internal/libpython3.11.so.1.0").stat().st_mode \
        & 0o777 == 0o644


def test_unit_settings_images_and_docs_are_staged(stage: Path) -> None:
    """The unit, its settings file, the base image and the docs land where the unit expects."""
    unit = stage / "lib/systemd/system/minikube13d.service"
    assert "ExecStart=/usr/bin/minikube13d" in unit.read_text()
    assert "EnvironmentFile=-/etc/default/minikube13d" in unit.read_text()
    assert (stage / "etc/default/minikube13d").read_text() \
        == (ROOT / "systemd/minikube13d.default").read_text()
    assert (stage / "usr/share/minikube13/images/busybox.oci/index.json").is_file()
    doc = stage / "usr/share/doc/minikube13"
    assert (doc / "README.md").read_text() == (ROOT / "README.md").read_text()
    assert (doc / "copyright").read_text().startswith("Format: https://www.debian.org/")
    changelog = gzip.decompress((doc / "changelog.gz").read_bytes()).decode()
    assert changelog.startswith("minikube13 (1.2.3) unstable; urgency=medium")
    assert changelog.rstrip().endswith(DATE)


def test_staged_files_have_no_odd_modes(stage: Path) -> None:
    """No file is group or world writable (dpkg-deb --root-owner-group makes them root's)."""
    for path in stage.rglob("*"):
        if not path.is_symlink():
            assert path.stat().st_mode & 0o022 == 0, path


def test_debian_metadata(stage: Path) -> None:
    """DEBIAN/ has the control file, the settings file as a conffile and executable scripts."""
    meta = stage / "DEBIAN"
    assert (meta / "conffiles").read_text() == "/etc/default/minikube13d\n"
    for script in ("postinst", "prerm", "postrm"):
        assert (meta / script).stat().st_mode & 0o777 == 0o755
        assert (meta / script).read_text().startswith("#!/bin/sh\n")
    fields = control_fields((meta / "control").read_text())
    assert int(fields["Installed-Size"]) == debpkg.installed_size_kib(stage)
    assert int(fields["Installed-Size"]) >= 5


def test_restaging_replaces_the_old_tree(inputs: Any, tmp_path: Path) -> None:
    """Staging twice leaves no file of the first run behind."""
    stage = debpkg.stage_tree(inputs, tmp_path / "stage", DATE)
    (stage / "usr/lib/minikube13/leftover").write_text("old")
    debpkg.stage_tree(inputs, stage, DATE)
    assert not (stage / "usr/lib/minikube13/leftover").exists()


def test_a_onedir_without_one_program_is_refused(inputs: Any, tmp_path: Path) -> None:
    """Two candidate programs in the frozen dir: the build stops and says so."""
    (inputs.onedir / "other").write_bytes(b"x")
    with pytest.raises(debpkg.PackagingError, match="expected one program"):
        debpkg.stage_tree(inputs, tmp_path / "stage", DATE)


def test_repo_inputs_take_every_unit_file() -> None:
    """Every .service/.socket in systemd/ is packaged, the .default file as settings."""
    found = debpkg.repo_inputs("0", Path("/nonexistent"), "amd64")
    names = {u.name for u in found.units}
    assert "minikube13d.service" in names
    assert names == {p.name for p in (ROOT / "systemd").iterdir()
                     if p.suffix in (".service", ".socket", ".timer")}
    assert found.default_file.name == "minikube13d.default"


build = load_packaging_module("build")


def test_project_version_is_the_package_version() -> None:
    """The .deb's version is minikube13.__version__."""
    import minikube13

    assert build.project_version() == minikube13.__version__


def test_outputs_are_fresh_only_when_newer_than_every_input(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """`make package` skips the build only when dist/ is newer than every input."""
    source = tmp_path / "source.py"
    source.write_text("x")
    monkeypatch.setattr(build, "input_files", lambda: [source])
    dist = tmp_path / "dist"
    dist.mkdir()
    assert not build.is_fresh(dist)
    (dist / "minikube13").write_bytes(b"exe")
    assert not build.is_fresh(dist), "no .deb yet"
    deb = dist / "minikube13_1.0_amd64.deb"
    deb.write_bytes(b"deb")
    os.utime(source, (1000, 1000))
    assert build.is_fresh(dist)
    os.utime(source, (2**31, 2**31))
    assert not build.is_fresh(dist)
    assert build.find_deb(dist) == deb


def test_inputs_cover_the_code_units_and_images_but_not_caches() -> None:
    """An edit to the code, the units or the packaging makes the package stale."""
    files = build.input_files()
    assert ROOT / "minikube13" / "__init__.py" in files
    assert ROOT / "systemd" / "minikube13d.service" in files
    assert ROOT / "packaging" / "debian" / "postinst" in files
    assert not [f for f in files if "__pycache__" in f.parts or f.suffix == ".pyc"]
