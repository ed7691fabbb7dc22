"""Shared test configuration and the smoke-run fixtures of the book's chapters."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib
import pytest
import yaml

# Tests never open windows and never reach a model hub.
matplotlib.use("Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parent.parent


def load_book_build():
    """Import book/build.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_dropout(classifier) -> None:
    """No dropout, layer drop or time masking in an EmotionClassifier, so training mode draws nothing."""
    import torch

    classifier.encoder.config.layerdrop = 0.0
    classifier.encoder.config.apply_spec_augment = False
    for m in classifier.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
        if isinstance(getattr(m, "dropout", None), float):
            m.dropout = 0.0  # SDPA's attention dropout


def sigkill_then_rerun(command: list[str], out: Path, env: dict[str, str]) -> str:
    """The SIGKILL harness of the training commands; return the stdout of the resumed run.

    Starts ``command`` (which writes the run directory ``out``) and SIGKILLs it
    as soon as ``out/checkpoint/state.pt`` exists (the checkpoint folder is
    renamed into place whole, so its presence means a step is on disk); asserts
    that it died of the signal before finishing; reruns ``command``, which must
    succeed and say once that it is resuming.  The caller compares ``out`` with
    an uninterrupted run.
    """
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint" / "state.pt").is_file():
            assert proc.poll() is None, "the run ended before its first checkpoint appeared"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # Killed mid-run: otherwise the rerun would only reuse a finished run and prove nothing.
    assert not (out / "metrics.json").exists()
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    resumed = [line for line in rerun.stdout.splitlines() if line.startswith("resuming")]
    assert len(resumed) == 1, rerun.stdout
    return rerun.stdout


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory) -> Path:
    """The session's one folder of synthetic corpora (``<cache>/corpora``), shared by the module caches.

    A synthetic corpus is a pure function of its key (kind, seed, scale, generator
    and eSpeak NG versions), and tests only read it (they copy a corpus before
    damaging it), so each one is generated once per session instead of once per
    test.  Everything else in a cache (features, runs, backbones) stays the test's own.
    """
    return tmp_path_factory.mktemp("corpus-store")


def link_corpora(cache: Path, store: Path) -> Path:
    """Make ``cache``, with its ``corpora`` folder a link to the session's ``store``; return ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "corpora").symlink_to(store, target_is_directory=True)
    return cache


@pytest.fixture(scope="session")
def shared_corpus(tmp_path_factory, corpus_store) -> Callable[..., Path]:
    """``shared_corpus(kind, scale, seed=0)``: :func:`emocirc.synth.ensure_corpus` in the session's store."""
    from emocirc.synth import ensure_corpus

    cache = link_corpora(tmp_path_factory.mktemp("corpus-cache"), corpus_store)
    return lambda kind, scale, seed=0: ensure_corpus(kind, seed=seed, scale=scale, cache_dir=cache)


@pytest.fixture
def emocirc_cache(tmp_path, monkeypatch) -> Path:
    """Point EMOCIRC_CACHE at the test's own tmp_path/cache; use with ``pytest.mark.usefixtures``.

    The folder is left for the code under test to create (tests check what it writes
    there); a test that only needs a synthetic corpus takes :func:`shared_corpus`.
    """
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMOCIRC_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory, corpus_store) -> Path:
    """A cache of the test module's own (corpora shared: :func:`corpus_store`), set as EMOCIRC_CACHE."""
    cache = link_corpora(tmp_path_factory.mktemp("emocirc-cache"), corpus_store)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOCIRC_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def book_build():
    return load_book_build()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, book_build, corpus_store) -> Callable[[Path], Path]:
    """Execute a chapter once per test session with tests/smoke/<stem>.yml; return the notebook."""
    cache = link_corpora(tmp_path_factory.mktemp("emocirc-cache"), corpus_store)
    out_dir = tmp_path_factory.mktemp("smoke-executed")
    done: dict[str, Path] = {}
    failed: dict[str, str] = {}

    def run(source: Path) -> Path:
        if source.stem in failed:
            pytest.fail(f"{source.stem} failed earlier in this session: {failed[source.stem]}")
        if source.stem not in done:
            smoke = ROOT / "tests" / "smoke" / f"{source.stem}.yml"
            params = (yaml.safe_load(smoke.read_text()) if smoke.exists() else None) or {}
            unknown = set(params) - set(book_build.declared_parameters(source))
            assert not unknown, f"{smoke.name} sets parameters the chapter does not declare: {unknown}"
            old = {"EMOCIRC_CACHE": os.environ.get("EMOCIRC_CACHE")}
            os.environ["EMOCIRC_CACHE"] = str(cache)
            try:
                out = out_dir / f"{source.stem}.ipynb"
                timeout = int(os.environ.get("EMOCIRC_SMOKE_TIMEOUT", "600"))
                book_build.execute(source, out, params, timeout=timeout)
            except Exception as err:
                failed[source.stem] = str(err)
                raise
            finally:
                for key, value in old.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            done[source.stem] = out
        return done[source.stem]

    return run
