"""Atomic file and directory writes.

Nothing that emocirc saves is ever seen half-written: files are written to a
temporary sibling and renamed into place, directories are built in a
temporary sibling and renamed as a whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; rename it onto ``path`` on success.

    An existing ``path`` is replaced only after the new one is complete, so a
    reader sees either the old complete directory or the new complete one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f"{_aside_prefix(path)}{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
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
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
