"""Tests of emocirc.backbones: built-ins, local directories, classification checkpoints, offline ids."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from emocirc.backbones import builtin_config, fingerprint, load_backbone
from emocirc.errors import EmocircError
from emocirc.features import extract_features


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
    with pytest.raises(EmocircError, match="tiny, base-random"):
        builtin_config("huge")
