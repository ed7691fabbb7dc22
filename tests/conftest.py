"""Shared test configuration and the smoke-run fixtures of the book's chapters."""

from __future__ import annotations

import importlib.util
import os
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


@pytest.fixture
def emocirc_cache(tmp_path, monkeypatch) -> Path:
    """Point EMOCIRC_CACHE at the test's own tmp_path/cache; use with ``pytest.mark.usefixtures``."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMOCIRC_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def book_build():
    return load_book_build()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, book_build) -> Callable[[Path], Path]:
    """Execute a chapter once per test session with tests/smoke/<stem>.yml; return the notebook."""
    cache = tmp_path_factory.mktemp("emocirc-cache")
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
