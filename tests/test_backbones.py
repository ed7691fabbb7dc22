"""Tests of emocirc.backbones: built-ins, local directories, classification checkpoints, offline ids."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from emocirc.backbones import builtin_config, fingerprint, load_backbone
from emocirc.errors import EmocircError
from emocirc.features import extract_features
from tests.preloaded import python


def test_tiny_is_seeded_and_has_wav2vec2_base_normalisation():
    a, b = load_backbone("tiny"), load_backbone("tiny")
    assert a.fingerprint == b.fingerprint
    cfg = a.model.config
    base = builtin_config("base-random")
    # Same feature-encoder normalisation and strides as wav2vec2-base: the batching difficulty is real.
    assert cfg.feat_extract_norm == base.feat_extract_norm == "group"
    assert tuple(cfg.conv_stride) == tuple(base.conv_stride) and not cfg.do_stable_layer_norm
    assert a.do_normalize and a.frame_rate == 50.0


def test_fingerprint_changes_with_weights():
    bb = load_backbone("tiny")
    with torch.no_grad():
        bb.model.feature_projection.projection.bias.add_(1e-3)
    assert fingerprint(bb.model) != load_backbone("tiny").fingerprint


def test_saved_directory_round_trips(tmp_path):
    bb = load_backbone("tiny")
    bb.save_pretrained(tmp_path / "enc")
    assert (tmp_path / "enc" / "model.safetensors").is_file()
    again = load_backbone(tmp_path / "enc")
    assert again.fingerprint == bb.fingerprint and again.do_normalize


def test_classification_checkpoint_loads_its_encoder(tmp_path):
    # Like superb/wav2vec2-base-superb-er: Wav2Vec2ForSequenceClassification on disk.
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(1)
    clf = Wav2Vec2ForSequenceClassification(builtin_config("tiny"))
    clf.save_pretrained(tmp_path / "er", safe_serialization=True)
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(tmp_path / "er")
    bb = load_backbone(tmp_path / "er")
    assert type(bb.model).__name__ == "Wav2Vec2Model"
    assert bb.do_normalize is False
    for key, value in clf.wav2vec2.state_dict().items():
        torch.testing.assert_close(bb.model.state_dict()[key], value)


@pytest.mark.parametrize("family", ["hubert", "wavlm"])
def test_other_families_load_and_stay_exact_under_batching(tmp_path, family):
    from transformers import AutoConfig, AutoModel

    tiny = builtin_config("tiny").to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        tiny.pop(key, None)
    cfg = AutoConfig.for_model(family, **tiny)
    torch.manual_seed(0)
    AutoModel.from_config(cfg).save_pretrained(tmp_path / family, safe_serialization=True)
    bb = load_backbone(tmp_path / family)
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (5_000, 12_000)]
    batched = extract_features(waves, bb, precision="fp32", cache=False).embeddings
    alone = extract_features(waves[:1], bb, precision="fp32", cache=False).embeddings
    err = np.linalg.norm(batched[0] - alone[0], axis=-1) / np.linalg.norm(alone[0], axis=-1)
    assert err.max() < 1e-4


def test_missing_directory_and_non_model_directory(tmp_path):
    with pytest.raises(EmocircError, match="does not exist"):
        load_backbone(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmocircError, match="config.json"):
        load_backbone(tmp_path / "empty")


def test_uncached_hub_id_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-emocirc-hf-home")
    start = time.perf_counter()
    with pytest.raises(EmocircError, match="--model DIR") as info:
        load_backbone("facebook/wav2vec2-base")
    assert time.perf_counter() - start < 5
    assert "facebook/wav2vec2-base" in str(info.value)


def test_unknown_builtin_named():
    with pytest.raises(EmocircError, match="tiny, tiny-pretrained, base-random"):
        builtin_config("huge")


# A pre-trained built-in at test scale: a few steps on a tiny stand-in corpus.
_SMALL_PRETRAIN = {
    "steps": 2,
    "batch_size": 2,
    "crop_seconds": 1.0,
    "eval_every": 1,
    "eval_crops": 2,
    "n_clusters": 8,
}


@pytest.fixture
def small_pretrained(monkeypatch, emocirc_cache):
    import emocirc.backbones as backbones

    monkeypatch.setitem(backbones.PRETRAINED_BUILTINS, "tiny-pretrained", dict(_SMALL_PRETRAIN))
    monkeypatch.setattr(backbones, "PRETRAINING_CORPUS", {**backbones.PRETRAINING_CORPUS, "scale": 0.05})
    return emocirc_cache


def test_pretrained_builtin_is_built_once_and_cached(small_pretrained, monkeypatch):
    import emocirc.pretrain
    from emocirc.backbones import pretrained_key

    calls = []
    real = emocirc.pretrain.pretrain
    monkeypatch.setattr(emocirc.pretrain, "pretrain", lambda *a, **k: calls.append(1) or real(*a, **k))
    a = load_backbone("tiny-pretrained")
    b = load_backbone("tiny-pretrained")
    assert len(calls) == 1 and a.fingerprint == b.fingerprint and a.name == "tiny-pretrained"
    built = small_pretrained / "backbones" / pretrained_key("tiny-pretrained")
    assert (built / "model.safetensors").is_file() and (built / "log.jsonl").is_file()
    assert not [p for p in built.parent.iterdir() if p.name.endswith(".run")]
    # Same architecture as the random-init "tiny", other weights.
    tiny = load_backbone("tiny")
    assert {k: v.shape for k, v in a.model.state_dict().items()} == {
        k: v.shape for k, v in tiny.model.state_dict().items()
    }
    assert a.fingerprint != tiny.fingerprint


def test_pretrained_key_follows_configuration_and_corpus(small_pretrained, monkeypatch):
    import emocirc.backbones as backbones
    import emocirc.pretrain

    key = backbones.pretrained_key("tiny-pretrained")
    monkeypatch.setitem(backbones.PRETRAINED_BUILTINS, "tiny-pretrained", {**_SMALL_PRETRAIN, "steps": 3})
    assert backbones.pretrained_key("tiny-pretrained") != key
    monkeypatch.setitem(backbones.PRETRAINED_BUILTINS, "tiny-pretrained", dict(_SMALL_PRETRAIN))
    monkeypatch.setattr(backbones, "PRETRAINING_CORPUS", {**backbones.PRETRAINING_CORPUS, "seed": 7})
    assert backbones.pretrained_key("tiny-pretrained") != key
    monkeypatch.setattr(backbones, "PRETRAINING_CORPUS", {**backbones.PRETRAINING_CORPUS, "seed": 0})
    monkeypatch.setattr(emocirc.pretrain, "PRETRAIN_VERSION", emocirc.pretrain.PRETRAIN_VERSION + 1)
    assert backbones.pretrained_key("tiny-pretrained") != key


def test_concurrent_builders_train_once(small_pretrained):
    from emocirc.backbones import pretrained_key
    from emocirc.synth import ensure_corpus

    ensure_corpus("iemocap", scale=0.05)  # the corpus's own lock is tested elsewhere
    code = (
        "import emocirc.backbones as b, emocirc.pretrain as p\n"
        f"b.PRETRAINED_BUILTINS['tiny-pretrained'] = {_SMALL_PRETRAIN!r}\n"
        "b.PRETRAINING_CORPUS = {**b.PRETRAINING_CORPUS, 'scale': 0.05}\n"
        "real = p.pretrain\n"
        "def counted(*a, **k):\n"
        "    print('TRAINED', flush=True)\n"
        "    return real(*a, **k)\n"
        "p.pretrain = counted\n"
        "print(b.load_backbone('tiny-pretrained').fingerprint)\n"
    )
    procs = [python(["-c", code]) for _ in range(2)]  # two new processes, torch imported (tests/preloaded.py)
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    lines = [o[0].split() for o in outs]
    assert sum(line.count("TRAINED") for line in lines) == 1
    assert lines[0][-1] == lines[1][-1]
    assert (small_pretrained / "backbones" / pretrained_key("tiny-pretrained") / "metrics.json").is_file()
