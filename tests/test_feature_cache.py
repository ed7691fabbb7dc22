"""The features cache writes entries in the background, and never publishes a partial one."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc.features import FeatureCache, extract_features


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
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "cache_writes.py"
    spec = importlib.util.spec_from_file_location("cache_writes", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert (
        bench.main(
            ["--entries", "20", "--layers", "2", "--dim", "8", "--repeat", "1", "--dir", str(tmp_path)]
        )
        == 0
    )
    assert "background / serial speed" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # its folders are removed
