"""Tests of emocirc.egemaps: known answers on constructed signals, the cache, and a clear error without opensmile."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emocirc import egemaps, prosodic_baseline
from emocirc.errors import EmocircError

SR = 16000
F0_MEAN = "F0semitoneFrom27.5Hz_sma3nz_amean"
LOUDNESS = "loudness_sma3_amean"


def _voice(f0: float, amplitude: float, seconds: float = 0.6, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a little vibrato and noise, voiced enough for openSMILE's pitch tracker."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (amplitude * x / np.abs(x).max() + 0.002 * rng.normal(size=t.size)).astype(np.float32)


def test_missing_opensmile_is_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile now raises ImportError
    egemaps._smile.cache_clear()
    try:
        assert not egemaps.is_available()
        with pytest.raises(EmocircError, match=r"opensmile.*pip install emocirc\[egemaps\]") as err:
            egemaps.egemaps_features(np.zeros(SR, np.float32))
        assert "\n" not in str(err.value)
    finally:
        egemaps._smile.cache_clear()


def test_pitch_and_loudness_have_known_values():
    pytest.importorskip("opensmile")
    assert egemaps.is_available()
    names = egemaps.feature_names()
    assert len(names) == 88 and len(set(names)) == 88
    low = egemaps.egemaps_features(_voice(110.0, 0.1), SR)
    high = egemaps.egemaps_features(_voice(220.0, 0.5), SR)
    assert list(low) == names
    # 110 Hz is 24 semitones above 27.5 Hz, 220 Hz 36.
    assert low[F0_MEAN] == pytest.approx(24.0, abs=0.5)
    assert high[F0_MEAN] == pytest.approx(36.0, abs=0.5)
    assert high[LOUDNESS] > 2 * low[LOUDNESS]


def test_bad_signals_are_refused():
    with pytest.raises(EmocircError, match="mono 1-D"):
        egemaps.egemaps_features(np.zeros((2, SR)))
    with pytest.raises(EmocircError, match="empty signal"):
        egemaps.egemaps_features(np.zeros(0))


def test_files_are_cached_by_content(tmp_path, monkeypatch):
    pytest.importorskip("opensmile")
    paths = []
    for i, f0 in enumerate([120.0, 180.0]):
        paths.append(tmp_path / f"u{i}.wav")
        sf.write(paths[-1], _voice(f0, 0.3), SR, subtype="PCM_16")
    cache = tmp_path / "cache"
    first = egemaps.extract_egemaps_features(paths, cache_dir=cache)
    assert first.shape == (2, 88) and first[F0_MEAN].is_monotonic_increasing
    assert len(list(cache.rglob("*.npy"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("computed again despite the cache")

    monkeypatch.setattr(egemaps, "egemaps_features", fail)
    pd.testing.assert_frame_equal(egemaps.extract_egemaps_features(paths, cache_dir=cache), first)
    with pytest.raises(AssertionError, match="computed again"):
        egemaps.extract_egemaps_features(paths, cache_dir=cache, use_cache=False)
    with pytest.raises(EmocircError, match="missing.wav: no such audio file"):
        egemaps.extract_egemaps_features([tmp_path / "missing.wav"], cache_dir=cache)


def test_baseline_separates_constructed_emotions(tmp_path):
    # "anger" is higher and louder than "sadness" for every speaker, whose own pitch differs.
    pytest.importorskip("opensmile")
    rows = []
    for s, base in enumerate([100.0, 150.0, 210.0]):
        for k in range(4):
            for label, (ratio, amp) in {"anger": (1.5, 0.6), "sadness": (0.8, 0.08)}.items():
                path = tmp_path / f"s{s}_{label}{k}.wav"
                sf.write(path, _voice(base * ratio * (1 + 0.03 * k), amp, seed=k), SR, subtype="PCM_16")
                rows.append({"id": path.stem, "path": path, "label": label, "speaker": f"s{s}"})
    corpus = pd.DataFrame(rows)
    feats = egemaps.egemaps_embeddings(corpus, cache_dir=tmp_path / "cache")
    assert feats.embeddings.shape == (24, 1, 88) and feats.layers.tolist() == [0]
    assert feats.ids.tolist() == corpus["id"].tolist() and np.isnan(feats.arousal).all()
    table = pd.DataFrame(feats.embeddings[:, 0], columns=egemaps.feature_names())
    result = prosodic_baseline.loso_baseline(table, corpus["label"], corpus["speaker"])
    assert result.weighted_accuracy >= 0.9
    with pytest.raises(EmocircError, match="expected path, label and speaker"):
        egemaps.egemaps_embeddings(corpus.drop(columns="speaker"))
