"""Shared test configuration and the smoke-run fixtures of the book's chapters."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
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
# Under pytest-xdist every worker is one process of the suite: one thread each,
# so N workers on N cores do not oversubscribe them (torch reads this at import).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent


def shared_folder(tmp_path_factory, name: str) -> Path:
    """``<session temp>/<name>``, one folder for the whole session: shared by every xdist worker.

    Each xdist worker has its own ``basetemp`` (``.../popen-gw0``) below the
    session's; their parent is common, so what is built there (under a file
    lock) is built once per session, not once per worker.  Without xdist it is
    the session's ``basetemp``.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / name
    folder.mkdir(exist_ok=True)
    return folder


def load_script(relative: str, name: str | None = None):
    """Import a script of the repository (``book/build.py``, ``benchmarks/...``: not package modules) anew.

    The module is registered in ``sys.modules`` under ``name`` (default: the
    file's stem) while it runs, as an import would (dataclasses look there).
    """
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_book_build():
    """Import book/build.py."""
    return load_script("book/build.py", "book_build")


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


def sigkill_then_rerun(args: list[str], out: Path, env: dict[str, str]) -> str:
    """The SIGKILL harness of the training commands; return the stdout of the resumed run.

    Starts ``python ARGS`` (``-m emocirc ...``, which writes the run directory
    ``out``; a new process started with torch already imported,
    tests/preloaded.py) and SIGKILLs it as soon as ``out/checkpoint/state.pt``
    exists (the checkpoint folder is renamed into place whole, so its presence
    means a step is on disk); asserts that it died of the signal before
    finishing; reruns the command, which must succeed and say once that it is
    resuming.  The caller compares ``out`` with an uninterrupted run.
    """
    from tests.preloaded import python

    proc = python(args, env=env)
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
    rerun = python(args, env=env)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr[-2000:]
    resumed = [line for line in stdout.splitlines() if line.startswith("resuming")]
    assert len(resumed) == 1, stdout
    return stdout


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory) -> Path:
    """The session's one folder of synthetic corpora (``<cache>/corpora``), shared by the module caches.

    A synthetic corpus is a pure function of its key (kind, seed, scale, generator
    and eSpeak NG versions), and tests only read it (they copy a corpus before
    damaging it), so each one is generated once per session instead of once per
    test.  Everything else in a cache (features, runs, backbones) stays the test's own.
    :func:`emocirc.synth.ensure_corpus` locks each corpus, so xdist workers share it too.
    """
    return shared_folder(tmp_path_factory, "corpus-store")


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
    """Execute a chapter once per test session with tests/smoke/<stem>.yml; return the notebook.

    The executed notebooks and the cache they run with are shared by the
    session's xdist workers: a chapter runs under a lock of its own, and a
    worker that asks for it later (the browser test asks for all) reads the
    notebook, or the failure, the first one left.  Chapter 05 reuses 04's
    fine-tuning run; :func:`emocirc.finetune.finetune_cached` locks it, so the
    two never train it twice.
    """
    from emocirc._io import file_lock

    root = shared_folder(tmp_path_factory, "smoke")
    cache, out_dir = root / "emocirc-cache", root / "executed"
    with file_lock(root / ".setup.lock"):
        if not cache.exists():
            link_corpora(cache, corpus_store)
        out_dir.mkdir(exist_ok=True)

    def run(source: Path) -> Path:
        out = out_dir / f"{source.stem}.ipynb"
        failed = out_dir / f"{source.stem}.failed"
        with file_lock(out_dir / f".{source.stem}.lock"):
            if failed.exists():
                pytest.fail(f"{source.stem} failed earlier in this session: {failed.read_text()}")
            if out.exists():
                return out
            smoke = ROOT / "tests" / "smoke" / f"{source.stem}.yml"
            params = (yaml.safe_load(smoke.read_text()) if smoke.exists() else None) or {}
            unknown = set(params) - set(book_build.declared_parameters(source))
            assert not unknown, f"{smoke.name} sets parameters the chapter does not declare: {unknown}"
            old = os.environ.get("EMOCIRC_CACHE")
            os.environ["EMOCIRC_CACHE"] = str(cache)
            try:
                timeout = int(os.environ.get("EMOCIRC_SMOKE_TIMEOUT", "600"))
                book_build.execute(source, out, params, timeout=timeout)
            except Exception as err:
                failed.write_text(str(err))
                raise
            finally:
                if old is None:
                    os.environ.pop("EMOCIRC_CACHE", None)
                else:
                    os.environ["EMOCIRC_CACHE"] = old
        return out

    return run


# How `make test` spreads the suite over cores (pytest-xdist, `--dist loadscope
# --no-loadscope-reorder`, set in the Makefile as TEST_DIST): each test module
# goes to one worker whole, so its module fixtures (a trained run, a pre-trained
# backbone) are built once; each chapter's smoke run is a class of its own
# (tests/test_notebooks.py), so workers execute chapters side by side.
# (`--dist loadgroup` with xdist_group marks did this before, but pytest-xdist
# 3.8 marks a group by rewriting Node._nodeid, which pytest 9.2 no longer reads:
# every test became its own unit, and fixtures such as test_finetune.py's
# `trained` run were built on both workers. tests/test_distribution.py checks
# the grouping the suite relies on.)
# Modules are handed out in the order below, longest first (measured with
# --durations: benchmarks/README.md, "Test time"), so no long module starts last
# and leaves the other workers idle; the rest follow in collection order.
LONGEST_FIRST = [
    "test_notebooks.py",
    "test_finetune.py",
    "test_distributed.py",
    "test_lab.py",
    "test_rehearsal.py",
    "test_features.py",
    "test_browser.py",
    "test_book_kill.py",
    "test_pretrain.py",
    "test_realism.py",
    "test_inference.py",
    "test_synth.py",
    "test_book_build.py",
]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return  # one process: collection order
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: collection order within a rank


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core, at most 4 (each holds a torch process of 1-3 GB)."""
    return max(1, min(len(os.sched_getaffinity(0)), 4))
