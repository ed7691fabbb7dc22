"""Atomic writes (emocirc._io)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emocirc._io import atomic_dir, atomic_path, save_npz, write_json, write_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_atomic_writes_get_the_usual_file_mode_without_touching_the_umask(
    tmp_path, umask, file_mode, dir_mode
):
    # In a child process with its own umask: atomic writes must follow it, and leave it as it was.
    code = f"""
import os, stat, sys
from pathlib import Path
os.umask({umask})
from emocirc._io import atomic_dir, save_npz, write_text
import numpy as np
d = Path(sys.argv[1])
write_text(d / "a.txt", "x")
save_npz(d / "b.npz", a=np.arange(2))
with atomic_dir(d / "d") as tmp:
    (tmp / "f").write_text("y")
assert os.umask(0) == {umask}
print(oct(stat.S_IMODE((d / "a.txt").stat().st_mode)), oct(stat.S_IMODE((d / "b.npz").stat().st_mode)),
      oct(stat.S_IMODE((d / "d").stat().st_mode)))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [oct(file_mode), oct(file_mode), oct(dir_mode)]


def test_no_module_sets_the_umask():
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "emocirc").rglob("*.py") if "os.umask(" in p.read_text()
    ]
    assert offenders == []


def test_publishing_renames_come_after_fsync(tmp_path, monkeypatch):
    import emocirc._io as io

    events = []
    real_replace = os.replace
    monkeypatch.setattr(io, "fsync_file", lambda p: events.append(("fsync", Path(p).name)))
    monkeypatch.setattr(io, "fsync_dir", lambda p: events.append(("fsync_dir", Path(p).name)))

    def replace(a, b):
        events.append(("rename", Path(b).name))
        real_replace(a, b)

    monkeypatch.setattr(io.os, "replace", replace)
    write_text(tmp_path / "a.txt", "x")
    assert [e[0] for e in events] == ["fsync", "rename", "fsync_dir"] and events[1] == ("rename", "a.txt")
    events.clear()
    with atomic_dir(tmp_path / "ckpt") as d:
        (d / "sub").mkdir()
        (d / "sub" / "state.pt").write_bytes(b"1")
    kinds = [e[0] for e in events]
    assert kinds.index("rename") > kinds.index("fsync") and ("fsync", "state.pt") in events
    assert kinds.count("fsync_dir") >= 3 and kinds[-1] == "fsync_dir"  # sub, the new dir, the parent


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_failed_directory_build_leaves_the_old_directory(tmp_path):
    with atomic_dir(tmp_path / "corpus") as d:
        (d / "complete").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "corpus") as d:
            (d / "partial").write_text("1")
            raise RuntimeError("killed")
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["complete"]
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_save_npz_round_trips(tmp_path):
    save_npz(tmp_path / "f.npz", a=np.arange(3))
    with np.load(tmp_path / "f.npz") as data:
        assert data["a"].tolist() == [0, 1, 2]


def test_atomic_dir_once_keeps_the_first_complete_entry(tmp_path):
    from emocirc._io import atomic_dir_once

    with atomic_dir_once(tmp_path / "entry") as first:
        (first / "f").write_text("1")
        # A second writer finishes while the first is still writing: its entry is the one kept.
        with atomic_dir_once(tmp_path / "entry") as second:
            (second / "f").write_text("2")
    assert (tmp_path / "entry" / "f").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # the loser's copy is gone


def test_file_lock_makes_a_second_holder_wait(tmp_path):
    import threading
    import time

    from emocirc._io import file_lock

    lock = tmp_path / "sub" / ".key.lock"  # its folder is created
    spans: list[tuple[float, float]] = []

    def hold():
        with file_lock(lock):
            start = time.monotonic()
            time.sleep(0.2)
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = sorted(spans)
    assert b0 >= a1  # the second held it only after the first let go


def test_finetune_cached_trains_a_run_under_its_lock(tmp_path, monkeypatch, shared_corpus):
    import fcntl

    from emocirc import finetune
    from emocirc.finetune_config import FinetuneConfig

    seen = []

    def fake_finetune(df, config, out, **kwargs):
        # While the run trains, its lock is taken: a second caller would block here.
        with open(out.parent / f".{out.name}.lock", "a") as fh:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen.append(out)
        return out

    monkeypatch.setattr(finetune, "finetune", fake_finetune)
    root = shared_corpus("iemocap", 0.05)
    out = finetune.finetune_cached(root, FinetuneConfig(backbone="tiny"), cache_dir=tmp_path)
    assert seen == [out] and out.parent == tmp_path / "runs"
