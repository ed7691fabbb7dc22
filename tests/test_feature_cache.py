"""The features cache writes entries in the background, and never publishes a partial one."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc.features import FeatureCache, extract_features
from tests.conftest import load_script


def test_background_writes_are_published_by_flush(tmp_path):
    cache = FeatureCache(tmp_path, "fp")
    arrays = {f"{i:032x}": np.full((2, 3), i, np.float32) for i in range(3 * FeatureCache.MAX_PENDING)}
    with cache:
        for key, array in arrays.items():
            cache.put(key, array)
            array[:] = -1  # the caller may reuse its array: the entry keeps the value put
    assert len(cache) == len(arrays)
    assert all(np.array_equal(cache.get(k), np.full((2, 3), i, np.float32)) for i, k in enumerate(arrays))
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".npy")]


def test_a_failed_background_write_is_raised_by_flush(tmp_path):
    cache = FeatureCache(tmp_path, "fp")
    (cache.directory / "ab").parent.mkdir(parents=True)
    (cache.directory / "ab").write_text("a file where the entries' folder should be")
    cache.put("ab" + "0" * 30, np.zeros(3, np.float32))
    with pytest.raises(OSError):
        cache.flush()
    assert cache.get("ab" + "0" * 30) is None


def test_extraction_returns_with_every_entry_published(tmp_path):
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype("float32") for n in (4000, 5000, 6400)]
    first = extract_features(waves, "tiny", layers="0,4", precision="fp32", cache_dir=tmp_path)
    cache = FeatureCache(tmp_path, next((tmp_path / "features").iterdir()).name)
    assert len(cache) == len(waves)
    again = extract_features(waves, "tiny", layers="0,4", precision="fp32", cache_dir=tmp_path)
    np.testing.assert_array_equal(first.embeddings, again.embeddings)


def test_the_cache_write_benchmark_runs(tmp_path, capsys):
    bench = load_script("benchmarks/cache_writes.py")
    assert (
        bench.main(
            ["--entries", "20", "--layers", "2", "--dim", "8", "--repeat", "1", "--dir", str(tmp_path)]
        )
        == 0
    )
    assert "background / serial speed" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # its folders are removed


def test_entries_are_float32_converted_once(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path, "fp")
    written = []
    real = FeatureCache._write
    monkeypatch.setattr(FeatureCache, "_write", lambda self, key, a: written.append(a) or real(self, key, a))
    cache.write("ab" + "0" * 30, np.arange(3.0))  # float64 in
    with cache:
        cache.put("cd" + "0" * 30, np.arange(4.0))
    # What reaches the file is float32 already: the one conversion happened before.
    assert [a.dtype for a in written] == [np.float32, np.float32]
    assert cache.get("ab" + "0" * 30).dtype == cache.get("cd" + "0" * 30).dtype == np.float32
    np.testing.assert_array_equal(cache.get("cd" + "0" * 30), np.arange(4.0, dtype=np.float32))


def test_windows_wait_for_their_cache_writes_on_error(tmp_path, monkeypatch):
    # extract_windows leaves its cache as extract_features does: on an error the entries
    # already put are published before the error comes out, not left to background threads.
    import contextlib
    import time

    from emocirc import features as F

    real_atomic = F.atomic_path

    @contextlib.contextmanager
    def slow_atomic(*args, **kwargs):
        time.sleep(0.5)  # a slow disk: the write is still pending when the error is raised
        with real_atomic(*args, **kwargs) as tmp:
            yield tmp

    monkeypatch.setattr(F, "atomic_path", slow_atomic)
    real_forward, calls = F.forward_hidden_states, []

    def failing_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("stopped at the second chunk")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(F, "forward_hidden_states", failing_second_chunk)
    signal = np.random.default_rng(0).standard_normal(16_000 * 6).astype("float32")
    with pytest.raises(RuntimeError, match="second chunk"):
        F.extract_windows(
            signal,
            "tiny",
            window=1.0,
            hop=1.0,
            layers=-1,
            precision="fp32",
            batch_seconds=2.0,
            cache_dir=tmp_path,
        )
    cache = FeatureCache(tmp_path, next((tmp_path / "features").iterdir()).name)
    assert len(calls) == 2 and len(cache) == 1  # the first chunk's entry, published
