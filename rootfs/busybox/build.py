"""Build the `busybox` base image (an OCI image layout) from Debian's busybox-static.

    .venv/bin/python rootfs/busybox/build.py build/images/busybox.oci

Reproducible: the same busybox binary gives the same bytes (fixed mtimes = SOURCE_DATE_EPOCH
or 0, owners root, sorted entries, gzip without name or time), so the same digests.
The image is named docker.io/library/busybox:latest and busybox:<Debian version>.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from minikube13.runtime.images.oci import host_arch, write_layout

BUSYBOX = Path("/usr/bin/busybox")
PACKAGE = "busybox-static"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DIRS = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
        "etc": 0o755, "tmp": 0o1777, "root": 0o700, "home": 0o755, "var": 0o755,
        "var/tmp": 0o1777, "proc": 0o555, "sys": 0o555, "dev": 0o755}
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "etc/hostname": "",
    "etc/resolv.conf": "",
}


def debian_version() -> str:
    """The busybox-static package version as a tag: `1:1.35.0-4+deb12u1+b1` → `1.35.0-4-deb12u1-b1`."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out.split(":", 1)[-1].replace("+", "-").replace("~", "-")


def applets(binary: Path) -> list[str]:
    """Every applet path busybox knows (`bin/sh`, `usr/bin/awk`, ...), sorted."""
    out = subprocess.run([str(binary), "--list-full"], capture_output=True, text=True,
                         check=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()} - {"bin/busybox"})


def _info(name: str, mtime: int, **kw: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "root", "root"
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def layer_tar(binary: Path, mtime: int) -> bytes:
    """The single layer, as an uncompressed tar with entries in a fixed order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in sorted(DIRS.items()):
            tar.addfile(_info(name, mtime, type=tarfile.DIRTYPE, mode=mode))
        data = binary.read_bytes()
        tar.addfile(_info("bin/busybox", mtime, size=len(data), mode=0o755), io.BytesIO(data))
        for path in applets(binary):
            tar.addfile(_info(path, mtime, type=tarfile.SYMTYPE, linkname="/bin/busybox",
                              mode=0o777))
        for name, text in sorted(FILES.items()):
            raw = text.encode()
            tar.addfile(_info(name, mtime, size=len(raw), mode=0o644), io.BytesIO(raw))
    return buf.getvalue()


def build(out: Path, binary: Path = BUSYBOX) -> str:
    """Write the layout to `out` (replaced) and return the manifest digest."""
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    tar = layer_tar(binary, mtime)
    blob = gzip.compress(tar, compresslevel=6, mtime=0)
    created = f"{datetime.fromtimestamp(mtime, UTC):%Y-%m-%dT%H:%M:%SZ}"
    config = {"architecture": host_arch(), "os": "linux", "created": created,
              "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
              "history": [{"created": created, "created_by": f"rootfs/busybox/build.py "
                           f"({PACKAGE} on {platform.machine()})"}]}
    names = ["docker.io/library/busybox:latest",
             f"docker.io/library/busybox:{debian_version()}"]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    digest = write_layout(tmp, [(blob, "sha256:" + hashlib.sha256(tar).hexdigest())], config,
                          names)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the OCI layout directory to write")
    parser.add_argument("--busybox", type=Path, default=BUSYBOX, help="the static binary")
    args = parser.parse_args(argv)
    print(f"{args.out} {build(args.out, args.busybox)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
