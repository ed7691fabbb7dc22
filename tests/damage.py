"""Damaged audio files of the four kinds a real corpus copy holds, for the no-silent-loss tests."""

from __future__ import annotations

from pathlib import Path

#: Kinds of damage :func:`damage` makes.
KINDS: tuple[str, ...] = ("text", "empty", "header", "data")


def damage(path: str | Path, kind: str) -> Path:
    """Damage an existing WAV in place: ``text`` (a text file under the .wav name), ``empty`` (0 bytes),
    ``header`` (cut inside its 44-byte header) or ``data`` (cut in the samples: the header promises more).
    """
    path = Path(path)
    data = path.read_bytes()
    if kind == "text":
        path.write_text("This is not audio: a note saved under a .wav name.\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "header":
        path.write_bytes(data[:20])
    elif kind == "data":
        assert len(data) > 1000, "needs a file with some samples"
        path.write_bytes(data[: 44 + (len(data) - 44) // 2])
    else:
        raise ValueError(f"kind {kind!r}: expected one of {KINDS}")
    return path
