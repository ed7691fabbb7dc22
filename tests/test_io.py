"""Atomic writes (emocirc._io)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from emocirc._io import atomic_dir, atomic_path, save_npz, write_json, write_text


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "f").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


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
