"""Tests of emocirc.features: exactness under batching, cache, bad input, file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from emocirc import fast_forward as FF
from emocirc import features as F
from emocirc.backbones import fingerprint, load_backbone
from emocirc.errors import EmocircError
from emocirc.frames import conv_output_length, frame_counts
from tests.conftest import load_script

SR = 16_000


pytestmark = pytest.mark.usefixtures("emocirc_cache")


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny")


@pytest.fixture(scope="module")
def cpu_backbone():
    """``load_backbone`` built once per name, for tests that only read the model on the CPU.

    ``base-random`` takes seconds to build.  Tests that extract features (which may move
    the model to a GPU) or change weights load their own.
    """
    built = {}

    def get(name):
        if name not in built:
            built[name] = load_backbone(name)
        return built[name]

    return get


def _signals(lengths, seed=0):
    rng = np.random.default_rng(seed)
    t = [np.arange(n) / SR for n in lengths]
    return [
        (0.3 * np.sin(2 * np.pi * (120 + 40 * i) * ti) + 0.05 * rng.standard_normal(len(ti))).astype(
            np.float32
        )
        for i, ti in enumerate(t)
    ]


def _corpus(tmp_path, lengths, seed=0):
    paths = []
    for i, wave in enumerate(_signals(lengths, seed)):
        path = tmp_path / f"utt{i}.wav"
        sf.write(path, wave, SR, subtype="FLOAT")
        paths.append(str(path))
    return pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(len(paths))],
            "path": paths,
            "label": ["anger", "sadness"] * (len(paths) // 2) + ["neutral"] * (len(paths) % 2),
            "speaker": ["1F"] * len(paths),
            "valence": np.linspace(1, 5, len(paths)),
            "arousal": [np.nan] * len(paths),
        }
    )


def _reference(backbone, wave):
    """Hugging Face's own forward of one utterance alone, all hidden states, mean-pooled."""
    x = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
    with torch.no_grad():
        out = backbone.model(torch.from_numpy(x)[None], output_hidden_states=True)
    return np.stack([h[0].mean(0).numpy() for h in out.hidden_states])


def _tune(request, **changes):
    """``FF.tuning(**changes)`` for the rest of a test."""
    block = FF.tuning(**changes)
    block.__enter__()
    request.addfinalizer(lambda: block.__exit__(None, None, None))


def _rel(a, b):
    """Largest per-layer relative error ||a - b|| / ||b||."""
    return float(np.max(np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)))


LENGTHS = (3_000, 7_777, 16_000, 12_345, 5_000, 16_000, 24_000)


def test_tiny_has_group_norm_so_padding_matters(tiny):
    # The difficulty is real: Hugging Face's forward on a zero-padded batch
    # changes the short utterance's features by far more than 1e-4.
    waves = _signals((4_000, 16_000))
    ref = _reference(tiny, waves[0])
    batch = torch.zeros(2, 16_000)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy((w - w.mean()) / np.sqrt(w.var() + 1e-7))
    with torch.no_grad():
        out = tiny.model(batch, output_hidden_states=True)
    n = frame_counts(tiny, 4_000)
    naive = np.stack([h[0, :n].mean(0).numpy() for h in out.hidden_states])
    assert _rel(naive, ref) > 1e-2


@pytest.mark.parametrize("batch_seconds", [0.5, 1.5, 100.0])
def test_exact_under_any_batching_fp32(tiny, batch_seconds):
    waves = _signals(LENGTHS)
    feats = F.extract_features(waves, tiny, precision="fp32", batch_seconds=batch_seconds, cache=False)
    assert feats.embeddings.shape == (len(LENGTHS), 5, 64)
    for i, wave in enumerate(waves):
        assert _rel(feats.embeddings[i], _reference(tiny, wave)) < 1e-4


def test_frames_match_reference_and_pool_to_embeddings(tiny):
    waves = _signals((4_000, 9_000, 16_000))
    feats = F.extract_features(waves, tiny, layers="0,2", precision="fp32", frames=True, cache=False)
    for i, wave in enumerate(waves):
        x = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
        with torch.no_grad():
            out = tiny.model(torch.from_numpy(x)[None], output_hidden_states=True)
        expected = np.stack([out.hidden_states[k][0].numpy() for k in (0, 2)])
        assert feats.frames[i].shape == expected.shape  # (L, T, D), one row per 20 ms
        assert expected.shape[1] == (len(wave) - 400) // 320 + 1 == frame_counts(tiny, len(wave))
        np.testing.assert_allclose(feats.frames[i], expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(feats.embeddings[i], expected.mean(1), rtol=1e-4, atol=1e-5)


def test_selected_layers_are_slices_of_all_layers(tiny):
    waves = _signals((6_000, 11_000))
    full = F.extract_features(waves, tiny, layers="all", precision="fp32", cache=False)
    part = F.extract_features(waves, tiny, layers=[2, 0], precision="fp32", cache=False)
    assert part.layers.tolist() == [0, 2]
    np.testing.assert_allclose(part.embeddings, full.embeddings[:, [0, 2]], rtol=1e-5, atol=1e-6)


def test_stops_at_highest_requested_layer(tiny):
    calls = []
    hooks = [
        layer.register_forward_hook(lambda m, a, o, i=i: calls.append(i))
        for i, layer in enumerate(tiny.model.encoder.layers)
    ]
    try:
        F.extract_features(_signals((8_000,)), tiny, layers="1", precision="fp32", cache=False)
    finally:
        for h in hooks:
            h.remove()
    assert calls == [0]


def test_bf16_close_to_fp32(tiny):
    waves = _signals((8_000, 16_000))
    a = F.extract_features(waves, tiny, precision="fp32", cache=False).embeddings
    b = F.extract_features(waves, tiny, precision="bf16", cache=False).embeddings
    assert 0 < _rel(b, a) < 0.05


@pytest.mark.slow
def test_exact_base_random_forward():
    base = load_backbone("base-random")
    waves = _signals((5_000, 9_000, 7_000))
    feats = F.extract_features(waves, base, layers="0,6,12", precision="fp32", cache=False)
    for i, wave in enumerate(waves):
        assert _rel(feats.embeddings[i], _reference(base, wave)[[0, 6, 12]]) < 1e-4


def test_corpus_table_metadata_and_order(tiny, tmp_path):
    df = _corpus(tmp_path, (9_000, 3_000, 6_000))
    feats = F.extract_features(df, tiny, precision="fp32")
    assert feats.ids.tolist() == ["u0", "u1", "u2"]
    assert feats.labels.tolist() == df["label"].tolist()
    np.testing.assert_array_equal(feats.valence, df["valence"].to_numpy())
    assert np.isnan(feats.arousal).all()
    # Input order is kept though batches run shortest first.
    alone = F.extract_features([df["path"][2]], tiny, precision="fp32", cache=False)
    np.testing.assert_allclose(feats.embeddings[2], alone.embeddings[0], rtol=1e-4, atol=1e-6)


def test_missing_path_column_is_named():
    with pytest.raises(EmocircError, match="'path'"):
        F.extract_features(pd.DataFrame({"id": ["a"]}), "tiny")


def _count_forwards(monkeypatch):
    calls = []
    real = FF.launch

    def counting(backbone, waves, *args, **kwargs):
        calls.append(len(waves))
        return real(backbone, waves, *args, **kwargs)

    monkeypatch.setattr(F, "launch", counting)  # extract_features
    monkeypatch.setattr(FF, "launch", counting)  # forward_hidden_states (extract_windows)
    return calls


def test_cache_serves_second_run_and_recomputes_changed_audio(tiny, tmp_path, monkeypatch):
    df = _corpus(tmp_path, (4_000, 8_000, 6_000))
    calls = _count_forwards(monkeypatch)
    first = F.extract_features(df, tiny, precision="fp32")
    assert sum(calls) == 3
    assert len(F.FeatureCache(None, tiny.fingerprint)) == 3
    calls.clear()
    second = F.extract_features(df, tiny, precision="fp32")
    assert calls == []
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    # Other settings are other entries.
    F.extract_features(df, tiny, precision="fp32", layers="1")
    assert sum(calls) == 3
    calls.clear()
    # Overwrite one file with different audio: only it is recomputed, never served stale.
    sf.write(df["path"][1], _signals((8_000,), seed=5)[0] * 0.5, SR, subtype="FLOAT")
    third = F.extract_features(df, tiny, precision="fp32")
    assert sum(calls) == 1
    assert not np.allclose(third.embeddings[1], first.embeddings[1])
    np.testing.assert_array_equal(third.embeddings[[0, 2]], first.embeddings[[0, 2]])


def test_cache_key_is_of_the_decoded_samples():
    x = _signals((8_000,))[0]
    assert F.content_hash(x) == F.content_hash(x.copy()) == F.content_hash(x.astype(np.float64))
    changed = x.copy()
    changed[4_321] = np.nextafter(changed[4_321], np.float32(1))  # one sample, one ulp
    assert F.content_hash(changed) != F.content_hash(x)
    assert F.content_hash(x[:-1]) != F.content_hash(x)
    key = F.FeatureCache.key(F.content_hash(x), layers=[0], pooling="mean", precision="fp32")
    assert key != F.FeatureCache.key(F.content_hash(changed), layers=[0], pooling="mean", precision="fp32")


def test_cache_version_is_in_the_key(monkeypatch):
    # Bumping _CACHE_VERSION is what keeps entries of older code from being served.
    before = F.FeatureCache.key("0" * 32, layers=[0])
    monkeypatch.setattr(F, "_CACHE_VERSION", F._CACHE_VERSION + 1)
    assert F.FeatureCache.key("0" * 32, layers=[0]) != before


def test_same_audio_in_two_files_is_one_cache_entry(tiny, tmp_path, monkeypatch):
    df = _corpus(tmp_path, (6_000,))
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(Path(df["path"][0]).read_bytes())
    first = F.extract_features(df, tiny, precision="fp32")
    calls = _count_forwards(monkeypatch)
    again = F.extract_features([str(copy)], tiny, precision="fp32")
    assert calls == []  # keyed by the samples, not the name
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    # One changed sample in the file: another key, computed afresh.
    wave, _ = sf.read(copy, dtype="float32")
    wave[100] += 0.25
    sf.write(copy, wave, SR, subtype="FLOAT")
    F.extract_features([str(copy)], tiny, precision="fp32")
    assert calls == [1]


def test_each_file_is_decoded_once_with_or_without_cache(tiny, tmp_path, monkeypatch):
    df = _corpus(tmp_path, (4_000, 9_000, 6_000, 5_000))
    decoded = []
    real = F.load_audio
    monkeypatch.setattr(F, "load_audio", lambda path: decoded.append(path) or real(path))
    hashed = []
    real_hash = F.content_hash
    monkeypatch.setattr(F, "content_hash", lambda x: hashed.append(len(x)) or real_hash(x))
    for cache in (True, True, False):  # computed and cached, all served, no cache
        decoded.clear()
        F.extract_features(df, tiny, precision="fp32", cache=cache, batch_seconds=1.0)
        assert sorted(decoded) == sorted(df["path"]), cache
    assert len(hashed) == 2 * len(df)  # keys only while the cache is on


@pytest.mark.parametrize("decoders", [1, 3])
def test_partly_cached_corpus_is_computed_in_full_batches(tiny, tmp_path, monkeypatch, decoders, request):
    _tune(request, decoders=decoders)
    lengths = (4_000, 4_100, 4_200, 4_300, 4_400, 4_500)
    df = _corpus(tmp_path, lengths)
    batch_seconds = 0.56  # 8,960 samples: two of these utterances per batch
    F.extract_features(df.iloc[::2], tiny, precision="fp32", batch_seconds=batch_seconds)
    calls = _count_forwards(monkeypatch)
    feats = F.extract_features(df, tiny, precision="fp32", batch_seconds=batch_seconds)
    # The misses (4,100, 4,300, 4,500 samples) are re-batched, not computed one per read batch.
    assert calls == [2, 1]
    alone = F.extract_features(df, tiny, precision="fp32", cache=False, batch_seconds=0.01)
    assert feats.ids.tolist() == alone.ids.tolist()
    np.testing.assert_allclose(feats.embeddings, alone.embeddings, rtol=1e-4, atol=1e-5)


def test_shards_split_the_corpus_and_fill_the_cache(tiny, tmp_path, monkeypatch):
    df = _corpus(tmp_path, (4_000, 9_000, 6_000, 5_000, 7_000))
    alone = F.extract_features(df, tiny, precision="fp32", batch_seconds=0.8, cache=False)
    parts = [
        F.extract_features(df, tiny, precision="fp32", batch_seconds=0.8, shard=(r, 2)) for r in range(2)
    ]
    assert sorted(parts[0].ids.tolist() + parts[1].ids.tolist()) == df["id"].tolist()
    assert min(len(p) for p in parts) >= 2  # batches of 4,000+5,000 and 6,000, then 7,000, then 9,000
    assert [p.info["computed"] for p in parts] == [str(len(p)) for p in parts]
    calls = _count_forwards(monkeypatch)
    whole = F.extract_features(df, tiny, precision="fp32", batch_seconds=0.8)
    assert calls == [] and whole.info["computed"] == "0"  # assembled from the shards' cache entries
    # Each utterance was computed in the batch one process puts it in: the same numbers.
    np.testing.assert_array_equal(whole.embeddings, alone.embeddings)
    for part in parts:
        rows = [whole.ids.tolist().index(i) for i in part.ids]
        np.testing.assert_array_equal(whole.embeddings[rows], part.embeddings)
    with pytest.raises(EmocircError, match="shard"):
        F.extract_features(df, tiny, shard=(2, 2))


def test_cache_is_keyed_by_weights(tiny, tmp_path, monkeypatch):
    df = _corpus(tmp_path, (4_000, 5_000))
    F.extract_features(df, tiny, precision="fp32")
    other = load_backbone("tiny")
    with torch.no_grad():
        other.model.encoder.layers[0].feed_forward.output_dense.weight.mul_(1.5)
    changed = load_backbone("tiny")
    changed.model.load_state_dict(other.model.state_dict())
    changed.fingerprint = fingerprint(changed.model)
    assert changed.fingerprint != tiny.fingerprint
    calls = _count_forwards(monkeypatch)
    F.extract_features(df, changed, precision="fp32")
    assert sum(calls) == 2


def test_cache_dir_argument(tiny, tmp_path):
    df = _corpus(tmp_path, (4_000,))
    F.extract_features(df, tiny, precision="fp32", cache_dir=tmp_path / "elsewhere")
    assert len(list((tmp_path / "elsewhere" / "features").rglob("*.npy"))) == 1
    assert not (tmp_path / "cache").exists()


def _corrupt(df, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage" * 3)
    extra = pd.DataFrame({"id": ["bad"], "path": [str(bad)], "label": ["anger"], "speaker": ["1F"]})
    return pd.concat([df.iloc[:1], extra, df.iloc[1:]], ignore_index=True), bad


def test_corrupt_file_stops_with_its_name_but_keeps_computed_features(tiny, tmp_path, monkeypatch):
    df, bad = _corrupt(_corpus(tmp_path, (4_000, 6_000, 8_000)), tmp_path)
    with pytest.raises(EmocircError, match="bad.wav") as info:
        F.extract_features(df, tiny, precision="fp32", batch_seconds=0.5)
    assert "\n" not in str(info.value)
    # The three good utterances were computed (bad files go last) and stay cached.
    assert len(F.FeatureCache(None, tiny.fingerprint)) == 3
    calls = _count_forwards(monkeypatch)
    feats = F.extract_features(df, tiny, precision="fp32", skip_bad=True)
    assert calls == []
    assert feats.ids.tolist() == ["u0", "u1", "u2"]
    assert len(feats.skipped) == 1 and "bad.wav" in feats.skipped[0]


def test_load_features_validates(tmp_path):
    np.savez(tmp_path / "x.npz", ids=np.array(["a"]))
    with pytest.raises(EmocircError, match=r"x\.npz.*embeddings"):
        F.load_features(tmp_path / "x.npz")
    with pytest.raises(EmocircError, match="not found"):
        F.load_features(tmp_path / "nope.npz")
    (tmp_path / "t.npz").write_text("not a zip")
    with pytest.raises(EmocircError, match="t.npz"):
        F.load_features(tmp_path / "t.npz")


def test_save_load_roundtrip_with_frames(tiny, tmp_path):
    feats = F.extract_features(_signals((4_000, 7_000)), tiny, layers="0,4", precision="fp32", frames=True)
    F.save_features(tmp_path / "f.npz", feats)
    with np.load(tmp_path / "f.npz", allow_pickle=False) as npz:
        assert set(F.REQUIRED_ARRAYS) <= set(npz.files)
        assert npz["embeddings"].dtype == np.float32 and npz["ids"].dtype.kind == "U"
        assert npz["frame_offsets"].tolist() == [0, 12, 33]
    back = F.load_features(tmp_path / "f.npz")
    np.testing.assert_array_equal(back.embeddings, feats.embeddings)
    for a, b in zip(back.frames, feats.frames, strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.info["fingerprint"] == tiny.fingerprint


def test_resolve_layers_rejects_out_of_range():
    with pytest.raises(EmocircError, match="layer 13"):
        F.resolve_layers("0,13", 12)
    with pytest.raises(EmocircError, match="'a,b'"):
        F.resolve_layers("a,b", 12)


def test_windows_are_exact_and_cached_per_chunk(tiny, monkeypatch):
    signal = _signals((16_000 * 6,))[0]
    calls = _count_forwards(monkeypatch)
    feats = F.extract_windows(signal, tiny, window=1.0, hop=0.75, precision="fp32", batch_seconds=3.0)
    assert feats.starts.tolist()[:3] == [0.0, 0.75, 1.5] and feats.ends[-1] == 6.0
    assert calls == [3, 3, 2]  # 8 windows (the last flush with the end), in chunks of 3
    assert feats.starts[-1] == 5.0
    third = signal[int(1.5 * SR) : int(2.5 * SR)]
    assert _rel(feats.embeddings[2], _reference(tiny, third)) < 1e-4
    calls.clear()
    again = F.extract_windows(signal, tiny, window=1.0, hop=0.75, precision="fp32", batch_seconds=3.0)
    assert calls == []
    np.testing.assert_array_equal(again.embeddings, feats.embeddings)


def test_embedder_is_a_sklearn_transformer(tiny, tmp_path):
    from sklearn.base import clone

    df = _corpus(tmp_path, (4_000, 6_000, 5_000))
    emb = F.Wav2Vec2Embedder("tiny", layer=[1, 3], precision="fp32", cache=False)
    assert clone(emb).get_params()["layer"] == [1, 3]
    X = emb.fit(None).transform(list(df["path"]))
    assert X.shape == (3, 128)
    direct = F.extract_features(df, tiny, layers=[1, 3], precision="fp32", cache=False)
    np.testing.assert_allclose(X, direct.embeddings.reshape(3, -1), rtol=1e-5, atol=1e-6)
    assert emb.get_feature_names_out()[64] == "layer3_0"


def test_gpu_matrix_product_cnn_matches_convolution(tiny):
    # The GPU runs the CNN as unfolded matrix products; check that path here on the CPU.
    x = torch.from_numpy(np.stack([np.pad(w, (0, 9_000 - len(w))) for w in _signals((9_000, 6_000))]))
    lengths = torch.tensor([9_000, 6_000])
    fe = tiny.model.feature_extractor
    with torch.inference_mode():
        conv, n_conv = FF.feature_encoder(fe, x, lengths, padded=True, mode="conv")
        gemm, n_gemm = FF.feature_encoder(fe, x, lengths, padded=True, mode="unfold")
    assert n_conv.tolist() == n_gemm.tolist() == [27, 18]
    for i, n in enumerate(n_conv.tolist()):
        torch.testing.assert_close(gemm[i, :n], conv[i, :n], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["tiny", "base-random"])
def test_fft_positional_conv_matches_module(model, cpu_backbone):
    # The GPU computes pos_conv_embed by FFT with weight norm folded; check it on the CPU.
    backbone = cpu_backbone(model)
    module = backbone.model.encoder.pos_conv_embed
    fft = FF._FFTPositionalConv(module)
    gen = torch.Generator().manual_seed(0)
    for frames in (1, 37, 200):
        hidden = torch.randn(3, frames, backbone.hidden_size, generator=gen)
        hidden[1, frames // 2 :] = 0  # padded frames, zeroed as the encoder does
        with torch.inference_mode():
            expected, got = module(hidden), fft(hidden)
        assert got.shape == expected.shape == hidden.shape
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # A wrong kernel orientation (correlation vs convolution) must be caught.
    fft._fixed = (fft._fixed[0].flip(-1), fft._fixed[1])
    fft._spectra.clear()
    with torch.inference_mode():
        assert not torch.allclose(fft(hidden), module(hidden), rtol=1e-3, atol=1e-3)


def test_fft_sizes_are_smooth_and_large_enough():
    for n in (1, 2, 7, 127, 128, 129, 527, 1000, 4097):
        size = FF._fft_size(n)
        assert size >= n and size < 2 * n + 1
        rest = size
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        assert rest == 1
    assert FF._fft_size(527) == 540


def test_segment_group_norm_matches_per_utterance_loop(tiny):
    norm = tiny.model.feature_extractor.conv_layers[0].layer_norm
    assert isinstance(norm, torch.nn.GroupNorm)
    gen = torch.Generator().manual_seed(1)
    h = torch.randn(4, 50, norm.num_channels, generator=gen) * 3 + 1
    lengths = [50, 13, 31, 1 + 1]
    with torch.inference_mode():
        loop = FF._group_norm_valid(h, lengths, norm)
        # Tiny chunks too, so chunking is exercised.
        for max_elements in (1 << 27, 1):
            seg = FF._group_norm_segments(h, torch.tensor(lengths), norm, max_elements=max_elements)
            for i, n in enumerate(lengths):
                torch.testing.assert_close(seg[i, :n], loop[i, :n], rtol=1e-5, atol=1e-5)
                assert torch.isfinite(seg[i]).all()
    # Fewer groups than channels take group-wide statistics.
    grouped = torch.nn.GroupNorm(4, norm.num_channels)
    with torch.inference_mode():
        torch.nn.init.normal_(grouped.weight, generator=gen)
        seg = FF._group_norm_segments(h, torch.tensor(lengths), grouped)
        loop = FF._group_norm_valid(h, lengths, grouped)
    for i, n in enumerate(lengths):
        torch.testing.assert_close(seg[i, :n], loop[i, :n], rtol=1e-5, atol=1e-5)


def test_fft_path_keeps_extraction_exact(tiny, monkeypatch, request):
    # The GPU's positional conv and group norm, on the CPU, through extract_features.
    _tune(request, pos_conv="fft")
    calls = []
    forward = FF._FFTPositionalConv.forward
    monkeypatch.setattr(FF._FFTPositionalConv, "forward", lambda self, h: calls.append(1) or forward(self, h))
    waves = _signals(LENGTHS[:4])
    feats = F.extract_features(waves, tiny, precision="fp32", batch_seconds=100.0, cache=False)
    assert calls, "the FFT positional convolution was not used"
    assert tiny.model.encoder.pos_conv_embed.__class__.__name__ == "Wav2Vec2PositionalConvEmbedding"
    for i, wave in enumerate(waves):
        assert _rel(feats.embeddings[i], _reference(tiny, wave)) < 1e-4


def test_no_hashing_without_cache(tiny, tmp_path, monkeypatch):
    # Hashing serves the cache only; without one it is wasted host time.
    df = _corpus(tmp_path, (4_000, 6_000))
    expected = F.extract_features(df, tiny, layers=-1, precision="fp32", cache=False)

    def forbidden(source):
        raise AssertionError("content_hash called with the cache off")

    monkeypatch.setattr(F, "content_hash", forbidden)
    got = F.extract_features(df, tiny, layers=-1, precision="fp32", cache=False)
    np.testing.assert_array_equal(got.embeddings, expected.embeddings)
    with pytest.raises(EmocircError, match="nope.wav"):
        F.extract_features([str(tmp_path / "nope.wav")], tiny, cache=False)
    with pytest.raises(AssertionError, match="content_hash"):
        F.extract_features(df, tiny, layers=-1, precision="fp32", cache_dir=tmp_path / "c")


@pytest.mark.slow
def test_long_recording_memory_does_not_grow_beyond_the_signal(tmp_path):
    """benchmarks/long_recording.py on 1 and 9 minutes: peak RSS grows by the signal, not by frames."""
    bench = load_script("benchmarks/long_recording.py")

    short = bench.measure(1, "tiny", window=4.0, hop=2.0, layers="all", workdir=tmp_path)
    long = bench.measure(9, "tiny", window=4.0, hop=2.0, layers="all", workdir=tmp_path)
    assert long["windows"] == 269 and long["embeddings_shape"] == [269, 5, 64] and long["finite"]
    mib = 1024**2
    growth = (long["peak_rss_bytes"] - short["peak_rss_bytes"]) / mib
    signal_growth = (long["signal_bytes"] - short["signal_bytes"]) / mib
    # Keeping every window's frame-level hidden states (5 layers x 64 dims x 50 frames/s,
    # windows overlapping twice) would add 8 x 60 x 50 x 64 x 5 x 4 B x 2 = 59 MiB more;
    # the CNN's output for the whole recording (64 channels at 3200 frames/s) 375 MiB.
    frames_growth = 8 * 60 * 50 * 64 * 5 * 4 * 2 / mib
    assert growth < signal_growth + 0.5 * frames_growth, (growth, signal_growth)
    assert long["peak_rss_bytes"] < 2 * 1024**3


# --------------------------------------------------------------------------- the fast paths


@pytest.mark.parametrize(
    ("model", "first_layer"), [("tiny", "separate"), ("base-random", "separate"), ("tiny", "fused")]
)
def test_strided_and_unfolded_cnn_match_convolution(model, first_layer, cpu_backbone, request):
    # The GPU's CNN (row-shifted matrix products, no copy of the input) checked on the CPU.
    _tune(request, first_layer=first_layer)
    backbone = cpu_backbone(model)
    fe = backbone.model.feature_extractor
    lengths = [9_000, 6_001, 4_321]
    x = torch.from_numpy(np.stack([np.pad(w, (0, 9_000 - len(w))) for w in _signals(lengths)]))
    expected_frames = frame_counts(backbone.model, lengths)
    with torch.inference_mode():
        results = {
            mode: FF.feature_encoder(fe, x, torch.tensor(lengths), padded=True, mode=mode)
            for mode in ("conv", "unfold", "strided")
        }
    for mode, (h, n) in results.items():
        assert n.tolist() == expected_frames, mode
        assert h.shape[1] >= max(expected_frames) and torch.isfinite(h).all()
    # The reference: PyTorch's convolutions and the group norm reduced over the activations.
    with torch.inference_mode(), FF.tuning(first_norm="direct"):
        reference = FF.feature_encoder(fe, x, torch.tensor(lengths), padded=True, mode="conv")[0]
    for mode in ("conv", "unfold", "strided"):
        for i, n in enumerate(expected_frames):
            torch.testing.assert_close(results[mode][0][i, :n], reference[i, :n], rtol=1e-4, atol=1e-4)


def test_strided_conv_with_bias_and_wide_kernel():
    gen = torch.Generator().manual_seed(3)
    for kernel, stride, channels in ((3, 2, 8), (2, 2, 8), (10, 5, 1), (7, 3, 4), (4, 4, 6)):
        conv = torch.nn.Conv1d(channels, 5, kernel, stride, bias=True)
        frames = stride * 11
        h = torch.randn(2, frames, channels, generator=gen)
        with torch.no_grad():
            got = FF._strided_conv(h, conv)
            expected = conv(h.transpose(1, 2)).transpose(1, 2)
        assert got.shape == (2, frames // stride, 5)
        torch.testing.assert_close(got[:, : expected.shape[1]], expected, rtol=1e-5, atol=1e-5)


def test_analytic_first_group_norm_matches_the_reduction(tiny):
    # Statistics from the signal's window covariance = statistics of the activations.
    layer = tiny.model.feature_extractor.conv_layers[0]
    lengths = torch.tensor([9_000, 6_001, 400])
    x = torch.from_numpy(np.stack([np.pad(w, (0, 9_000 - len(w))) for w in _signals(lengths.tolist())])) * 3
    gen = torch.Generator().manual_seed(2)
    for conv_bias, groups in ((False, layer.conv.out_channels), (True, layer.conv.out_channels), (True, 4)):
        conv = torch.nn.Conv1d(1, layer.conv.out_channels, 10, 5, bias=conv_bias)
        norm = torch.nn.GroupNorm(groups, layer.conv.out_channels, affine=True)
        with torch.no_grad():
            for p in (*conv.parameters(), *norm.parameters()):
                p.copy_(torch.randn(p.shape, generator=gen))
        module = torch.nn.Module()
        module.conv, module.layer_norm = conv, norm
        with torch.inference_mode():
            scale, shift = FF._first_norm_affine(x, lengths, module)
            h = conv(x[:, None]).transpose(1, 2)
            frames = conv_output_length(lengths, conv.kernel_size[0], conv.stride[0])
            reference = FF._group_norm_valid(h, frames.tolist(), norm)
        for i, n in enumerate(frames.tolist()):
            torch.testing.assert_close(h[i, :n] * scale[i] + shift[i], reference[i, :n], rtol=1e-4, atol=1e-4)
    # Layers it does not cover fall back to the reduction.
    module.conv = torch.nn.Conv1d(2, 8, 3, 2)
    assert FF._first_norm_affine(x, lengths, module) is None


def test_bf16_copy_follows_weight_changes(tiny):
    copy = FF._bf16_model(tiny)
    assert next(copy.parameters()).dtype == torch.bfloat16
    assert FF._bf16_model(tiny) is copy  # kept while the weights are unchanged
    weight = tiny.model.encoder.layers[0].layer_norm.weight
    with torch.no_grad():
        weight.add_(1.0)
    try:
        fresh = FF._bf16_model(tiny)
        assert fresh is not copy
        torch.testing.assert_close(
            fresh.encoder.layers[0].layer_norm.weight.float(), weight, rtol=1e-2, atol=1e-2
        )
    finally:
        with torch.no_grad():
            weight.sub_(1.0)


def test_bf16_weights_stay_near_fp32(tiny):
    waves = _signals(LENGTHS[:4])
    fp32 = F.extract_features(waves, tiny, precision="fp32", cache=False).embeddings
    bf16 = F.extract_features(waves, tiny, precision="bf16", cache=False).embeddings
    rel = np.linalg.norm(bf16 - fp32, axis=-1) / np.linalg.norm(fp32, axis=-1)
    assert 0 < rel.max() < 3e-2  # bf16 did compute (not exact), within bf16's precision
    # The copy's linear layers carry weights laid out once for oneDNN where this CPU
    # computes bf16 in oneDNN (AVX-512 and newer); elsewhere they stay plain layers.
    packed = any(isinstance(m, FF._PackedLinear) for m in FF._bf16_model(tiny).modules())
    assert packed == FF.cpu_prepacks_bf16()
    with FF.tuning(prepack=False):
        plain = F.extract_features(waves, tiny, precision="bf16", cache=False).embeddings
        assert not any(isinstance(m, FF._PackedLinear) for m in FF._bf16_model(tiny).modules())
    rel = np.linalg.norm(bf16 - plain, axis=-1) / np.linalg.norm(plain, axis=-1)
    assert rel.max() < 1e-2
    # What bf16 extraction derived (oneDNN-packed weights cannot be copied) is kept
    # outside the model and the Backbone, so both still deep-copy.
    import copy

    clone = copy.deepcopy(tiny)
    assert F.extract_features(waves[:1], clone, precision="bf16", cache=False).embeddings.shape[0] == 1


@pytest.mark.parametrize("model", ["tiny", "base-random"])
def test_own_encoder_loop_matches_the_model_forward(model, cpu_backbone):
    backbone = cpu_backbone(model)
    gen = torch.Generator().manual_seed(4)
    hidden = torch.randn(3, 40, backbone.hidden_size, generator=gen)
    mask = torch.arange(40)[None] < torch.tensor([40, 25, 9])[:, None]
    encoder = backbone.model.encoder
    outputs = {}
    for choice in ("own", "hf"):
        captured = []
        handle = encoder.layers[-1].register_forward_hook(lambda m, a, out, sink=captured: sink.append(out))
        try:
            with torch.inference_mode(), FF.tuning(encoder=choice):
                FF.run_encoder(encoder, hidden.clone(), mask)
        finally:
            handle.remove()
        out = captured[0]
        outputs[choice] = out[0] if isinstance(out, tuple) else out
    for i, n in enumerate((40, 25, 9)):
        torch.testing.assert_close(outputs["own"][i, :n], outputs["hf"][i, :n], rtol=1e-5, atol=1e-5)


def test_pipelined_batches_keep_results_and_stop_on_a_bad_file(tiny, tmp_path, monkeypatch, request):
    # Batch k+1 is queued before batch k is collected: a bad file still stops the run
    # with its name, and every batch computed before it is in the cache.
    _tune(request, pipeline="always")
    df = _corpus(tmp_path, (4_000, 5_000, 6_000, 7_000))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    df = pd.concat([df, pd.DataFrame({"id": ["bad"], "path": [str(bad)]})], ignore_index=True)
    with pytest.raises(EmocircError, match="bad.wav"):
        F.extract_features(df, tiny, precision="fp32", batch_seconds=0.3)
    calls = _count_forwards(monkeypatch)
    good = F.extract_features(df.iloc[:4], tiny, precision="fp32", batch_seconds=0.3)
    assert sum(calls) == 0 and len(good) == 4  # all four came from the cache
    alone = F.extract_features(df.iloc[:4], tiny, precision="fp32", cache=False, batch_seconds=0.01)
    np.testing.assert_allclose(good.embeddings, alone.embeddings, rtol=1e-4, atol=1e-5)


def _hubert(directory, **changes):
    """A tiny HuBERT with the tiny wav2vec2's geometry (random weights), loaded as a backbone."""
    from transformers import AutoConfig, AutoModel

    from emocirc.backbones import builtin_config

    settings = builtin_config("tiny").to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        settings.pop(key, None)
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.for_model("hubert", **settings, **changes)).save_pretrained(directory)
    return load_backbone(directory)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_hubert_fast_path_matches_the_exact_forward(tmp_path, monkeypatch, batch_norm):
    # HuBERT's positional convolution carries a batch_norm attribute (None unless its config
    # asks for one): the fast path computes it by FFT unless that extra step is there.
    backbone = _hubert(tmp_path / "hubert", conv_pos_batch_norm=batch_norm)
    assert type(backbone.model).__name__ == "HubertModel"
    calls = []
    forward = FF._FFTPositionalConv.forward
    monkeypatch.setattr(FF._FFTPositionalConv, "forward", lambda self, h: calls.append(1) or forward(self, h))
    waves = _signals(LENGTHS[:4])
    feats = F.extract_features(waves, backbone, precision="fp32", batch_seconds=1.5, cache=False)
    assert bool(calls) == (not batch_norm)
    for i, wave in enumerate(waves):
        x = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7) if backbone.do_normalize else wave
        with torch.no_grad():
            out = backbone.model(torch.from_numpy(x)[None], output_hidden_states=True)
        expected = np.stack([h[0].mean(0).numpy() for h in out.hidden_states])
        assert _rel(feats.embeddings[i], expected) < 1e-4
