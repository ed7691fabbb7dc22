"""Crashes and concurrency: kill -9 mid-run, then the same command gives the same result; a shared cache.

Each test runs the real command line in new processes (each in a session of
its own, so a SIGKILL of its group reaches every worker; started with torch
already imported, tests/preloaded.py), kills one after it has written
something, reruns it, and compares with an uninterrupted run.  Extraction
runs one utterance per batch (``--batch-seconds 0.01``) and one thread, so
that which utterances a resumed run computes together cannot change a bit
of the result.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from emocirc.features import load_features
from tests.layouts import make_emodb
from tests.preloaded import Preloaded, python

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def emocirc(*args: str, cache: Path) -> Preloaded:
    return python(["-m", "emocirc", *args], env={**ENV, "EMOCIRC_CACHE": str(cache)}, new_session=True)


def finish(proc: Preloaded, timeout: float = 600) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def kill_when(proc: Preloaded, written, timeout: float = 300) -> None:
    """SIGKILL the process group as soon as ``written()`` holds (it has written something)."""
    deadline = time.monotonic() + timeout
    while not written():
        assert proc.poll() is None, f"finished before it could be killed: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, "nothing written in time"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def cache_entries(cache: Path) -> list[Path]:
    """Published feature-cache entries (not the temporaries a killed writer leaves)."""
    entries = cache / "features"
    return [p for p in entries.rglob("*.npy") if not p.name.startswith(".")] if entries.is_dir() else []


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def extract_args(corpus: Path, out: Path) -> list[str]:
    return [
        "extract", str(corpus), "--out", str(out), "--precision", "fp32", "--device", "cpu",
        "--batch-seconds", "0.01", "--quiet",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_emodb(tmp_path_factory.mktemp("corpus") / "emodb")


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """Features of an uninterrupted run into a cache of its own.

    It runs in this process (on one thread, as the commands do): the runs under
    test are the killed and concurrent processes, and must end as this one.
    """
    import torch

    from emocirc.cli import main

    base = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("EMOCIRC_CACHE", str(base / "cache"))
            assert main(extract_args(corpus, base / "f.npz")) == 0
    finally:
        torch.set_num_threads(threads)
    return load_features(base / "f.npz")


def assert_same_features(a, b) -> None:
    assert a.ids.tolist() == b.ids.tolist() and a.layers.tolist() == b.layers.tolist()
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert a.info == b.info


def test_extract_killed_mid_run_then_rerun_gives_the_same_features(corpus, reference, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "f.npz"
    proc = emocirc(*extract_args(corpus, out), cache=cache)
    kill_when(proc, lambda: bool(cache_entries(cache)))
    assert 0 < len(cache_entries(cache)) < len(reference) and not out.exists()
    finish(emocirc(*extract_args(corpus, out), cache=cache))
    assert_same_features(load_features(out), reference)
    assert len(cache_entries(cache)) == len(reference)  # each utterance cached once


def test_two_processes_sharing_a_fresh_cache_both_succeed_identically(corpus, reference, tmp_path):
    cache = tmp_path / "shared-cache"
    procs = [emocirc(*extract_args(corpus, tmp_path / f"f{i}.npz"), cache=cache) for i in range(2)]
    for proc in procs:
        finish(proc)
    first, second = (load_features(tmp_path / f"f{i}.npz") for i in range(2))
    assert_same_features(first, second)
    assert_same_features(first, reference)
    assert len(cache_entries(cache)) == len(reference)
    assert not [p.name for p in (cache / "features").rglob(".*")]  # no temporary left behind


def test_synth_killed_mid_run_then_rerun_gives_the_same_bytes(tmp_path):
    options = ["--scale", "0.02", "--jobs", "1"]
    finish(emocirc("synth", "emodb", str(tmp_path / "clean"), *options, cache=tmp_path / "c1"))
    target = tmp_path / "killed"

    def some_audio_written() -> bool:
        return any(p.suffix == ".wav" for part in tmp_path.glob(".killed.*") for p in part.rglob("*"))

    proc = emocirc("synth", "emodb", str(target), *options, cache=tmp_path / "c2")
    kill_when(proc, some_audio_written)
    assert not target.exists()  # a killed run publishes nothing
    finish(emocirc("synth", "emodb", str(target), *options, cache=tmp_path / "c2"))
    assert tree_bytes(target) == tree_bytes(tmp_path / "clean")


def test_synth_into_the_cache_killed_then_rerun(tmp_path):
    args = ["synth", "iemocap", "--scale", "0.02", "--jobs", "1"]
    clean = Path(finish(emocirc(*args, cache=tmp_path / "c1")).split("\t")[0])
    cache = tmp_path / "c2"

    def some_audio_written() -> bool:
        corpora = cache / "corpora"
        return corpora.is_dir() and any(p.suffix == ".wav" for p in corpora.rglob("*"))

    proc = emocirc(*args, cache=cache)
    kill_when(proc, some_audio_written)
    again = Path(finish(emocirc(*args, cache=cache)).split("\t")[0])
    assert again.name == clean.name and tree_bytes(again) == tree_bytes(clean)
