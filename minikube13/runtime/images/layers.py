"""Unpack one layer tar into a directory that overlayfs can use as a lower layer.

Whiteouts become what overlayfs reads: `.wh.<name>` a 0:0 character device `<name>`,
`.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its directory. The blob digest (of
the bytes as stored, maybe gzip) and the diff id (of the uncompressed tar) are checked while
reading. Paths are kept inside the target: `..`, and parents that are symlinks, are refused.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Any, BinaryIO, cast

from minikube13.runtime.images.model import ImageError

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class HashingReader:
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


class _Peekable:
    """Lets the first bytes be looked at (compression magic) and then read again."""

    def __init__(self, raw: BinaryIO | HashingReader) -> None:
        self.raw = raw
        self.head = raw.read(4)

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.raw.read(n)
        if n < 0:
            data, self.head = self.head + self.raw.read(), b""
            return data
        data, self.head = self.head[:n], self.head[n:]
        return data + (self.raw.read(n - len(data)) if n > len(data) else b"")


def unpack_layer(stream: BinaryIO, dest: Path, *, diff_id: str, blob_digest: str = "") -> int:
    """Unpack the layer read from `stream` into the new directory `dest` and return the
    uncompressed size. ImageError when a digest does not match or an entry is unsafe."""
    blob = HashingReader(stream)
    source = _Peekable(blob)
    if source.head.startswith(_ZSTD_MAGIC):
        raise ImageError("zstd-compressed layers are not supported")
    plain: Any = source
    if source.head.startswith(_GZIP_MAGIC):
        plain = gzip.GzipFile(fileobj=cast(Any, source), mode="rb")
    tar_stream = HashingReader(plain)
    dest.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=cast(Any, tar_stream), mode="r|") as tar:
            _Extractor(dest).extract_all(tar)
        tar_stream.drain()
        blob.drain()
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as e:
        raise ImageError(f"cannot unpack layer {diff_id}: {e}") from e
    if blob_digest and blob.digest != blob_digest:
        raise ImageError(f"layer blob digest mismatch: want {blob_digest}, got {blob.digest}")
    if tar_stream.digest != diff_id:
        raise ImageError(f"layer diff id mismatch: want {diff_id}, got {tar_stream.digest}")
    return tar_stream.count


class _Extractor:
    """Writes tar members under `root`, as root, keeping owners, modes and times."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs: list[tuple[Path, tarfile.TarInfo]] = []
        self.as_root = os.geteuid() == 0

    def extract_all(self, tar: tarfile.TarFile) -> None:
        for member in tar:
            target = self._target(member.name)
            if target is None:
                continue
            name = target.name
            if name == OPAQUE_MARKER:
                os.setxattr(target.parent, OPAQUE_XATTR, b"y")
            elif name.startswith(WHITEOUT_PREFIX):
                whiteout = target.with_name(name[len(WHITEOUT_PREFIX):])
                _clear(whiteout)
                os.mknod(whiteout, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            else:
                self._write(tar, member, target)
        for path, member in reversed(self.dirs):
            os.chmod(path, member.mode & 0o7777)
            os.utime(path, (member.mtime, member.mtime))

    def _target(self, name: str) -> Path | None:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ImageError(f"layer entry {name!r} leaves the layer")
        if not parts:
            return None
        path = self.root
        for part in parts[:-1]:
            path = path / part
            if path.is_symlink():
                raise ImageError(f"layer entry {name!r} goes through a symlink")
            if not path.exists():
                path.mkdir(mode=0o755)
        return path / parts[-1]

    def _write(self, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
        if not (member.isdir() and target.is_dir() and not target.is_symlink()):
            _clear(target)
        if member.isdir():
            target.mkdir(mode=0o700, exist_ok=True)
            self.dirs.append((target, member))
        elif member.isreg():
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            src = tar.extractfile(member)
            with os.fdopen(fd, "wb") as out:
                if src is not None:
                    shutil.copyfileobj(src, out, _CHUNK)
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            source = self._target(member.linkname)
            if source is None or not source.exists() and not source.is_symlink():
                raise ImageError(f"hard link {member.name!r} to a missing {member.linkname!r}")
            os.link(source, target, follow_symlinks=False)
            return
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() \
                else stat.S_IFIFO
            os.mknod(target, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            log.debug("layer entry skipped name=%s type=%s", member.name, member.type)
            return
        self._attributes(member, target)

    def _attributes(self, member: tarfile.TarInfo, target: Path) -> None:
        if self.as_root:
            os.lchown(target, member.uid, member.gid)
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                _set_xattr(target, key[len("SCHILY.xattr."):], value)
        if member.issym():
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
            return
        if not member.isdir():
            os.chmod(target, member.mode & 0o7777)
            os.utime(target, (member.mtime, member.mtime))


def _set_xattr(target: Path, key: str, value: str) -> None:
    try:
        os.setxattr(target, key, value.encode("utf-8", "surrogateescape"),
                    follow_symlinks=False)
    except OSError as e:
        log.debug("xattr not set path=%s key=%s error=%s", target, key, e)


def _clear(path: Path) -> None:
    """Remove whatever is at `path` (a later entry of one layer replaces an earlier one)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
