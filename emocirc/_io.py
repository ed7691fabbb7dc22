"""Atomic, durable file and directory writes.

Nothing that emocirc saves is ever seen half-written: files are written to a
temporary sibling and renamed into place, directories are built in a
temporary sibling and renamed as a whole.  Before the rename that publishes
it, the new file (or every file and folder of the new directory) is
fsync'ed, and after it the parent directory is, so that a power cut or a
kernel crash leaves the old version or the new one, never a renamed but
empty file.  Temporary files are created with mode 0o666 and folders with
0o777, which the kernel reduces by the process's umask as for any
``open()``: the umask is never read or set here (``os.umask`` would set it
for every thread of the process).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file's data and metadata to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (creations, renames) to the disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and Windows) cannot fsync a directory
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike[str]) -> None:
    """fsync every file and folder under ``path`` (deepest first), then ``path`` itself.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_text("x")
    >>> fsync_tree(d)
    """
    path = Path(path)
    if path.is_file():
        fsync_file(path)
        return
    for folder, _dirs, files in os.walk(path, topdown=False):
        for name in files:
            fsync_file(Path(folder) / name)
        fsync_dir(folder)


def _temporary_name(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")


def _new_file(path: Path, suffix: str) -> Path:
    """Create an empty temporary sibling of ``path`` exclusively, mode 0o666 less the umask."""
    for _ in range(100):
        tmp = _temporary_name(path, suffix)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: could not create a temporary sibling")  # pragma: no cover


def _new_dir(path: Path, suffix: str) -> Path:
    """Create a temporary sibling directory of ``path`` exclusively, mode 0o777 less the umask."""
    for _ in range(100):
        tmp = _temporary_name(path, suffix)
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: could not create a temporary sibling")  # pragma: no cover


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; fsync it and rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(path, suffix or ".tmp")
    try:
        yield tmp
        if tmp.exists():
            fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; fsync it and rename it onto ``path`` on success.

    An existing ``path`` is replaced only after the new one is complete, so a
    reader sees either the old complete directory or the new complete one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_dir(path, ".partial")
    try:
        yield tmp
        fsync_tree(tmp)
        if path.exists():
            old = path.with_name(f"{_aside_prefix(path)}{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            fsync_dir(path.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
            fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir_once(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like :func:`atomic_dir` for content-addressed entries: the first complete writer wins.

    The new directory is renamed onto ``path`` only if there is none yet
    (``rename`` refuses a non-empty target), so a concurrent reader of an
    entry never sees it replaced; a loser's copy is discarded.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for text in ("first", "second"):
    ...     with atomic_dir_once(d / "entry") as tmp:
    ...         _ = (tmp / "f").write_text(text)
    >>> (d / "entry" / "f").read_text()
    'first'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_dir(path, ".partial")
    try:
        yield tmp
        fsync_tree(tmp)
        try:
            os.rename(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
        else:
            fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _aside_prefix(path: Path) -> str:
    return f".{path.name}.old-"


def recover_dir(path: str | os.PathLike[str], complete: Callable[[Path], bool]) -> bool:
    """Put back the previous ``path`` if a kill fell between :func:`atomic_dir`'s two renames.

    :func:`atomic_dir` moves an existing directory aside and then renames the
    new one into place; a SIGKILL between the two leaves no ``path`` but the
    old one aside, complete.  The newest such directory for which
    ``complete(dir)`` holds is renamed back.  Returns whether one was.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / ".ckpt.old-123").mkdir()
    >>> recover_dir(d / "ckpt", lambda p: True), (d / "ckpt").is_dir()
    (True, True)
    """
    path = Path(path)
    if path.exists():
        return False
    aside = [p for p in path.parent.glob(f"{_aside_prefix(path)}*") if p.is_dir() and complete(p)]
    if not aside:
        return False
    os.replace(max(aside, key=lambda p: p.stat().st_mtime_ns), path)
    fsync_dir(path.parent)
    return True


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created, with its folder, if missing) for the block.

    The cache's builders (corpora, pre-trained backbones, fine-tuning runs) take
    one per key, so concurrent callers (two chapters, two shells, test workers)
    wait for the first to finish instead of building the same thing twice.  The
    kernel drops the lock when its holder dies, so a killed build never leaves
    the key locked.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_npz(path: str | os.PathLike[str], **arrays: Any) -> None:
    """Save arrays to an ``.npz`` file atomically (uncompressed)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def default_cache_dir() -> Path:
    """Root of emocirc's caches: ``$EMOCIRC_CACHE`` or ``~/.cache/emocirc``.

    Examples
    --------
    >>> import os
    >>> os.environ["EMOCIRC_CACHE"] = "/tmp/emocirc-doctest"
    >>> str(default_cache_dir())
    '/tmp/emocirc-doctest'
    >>> del os.environ["EMOCIRC_CACHE"]
    """
    env = os.environ.get("EMOCIRC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "emocirc"
