"""emocirc.frames: the one frame-length computation, checked against transformers' own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

from emocirc.backbones import builtin_config, load_backbone
from emocirc.frames import conv_output_length, frame_counts, frame_hop, receptive_field

LENGTHS = [0, 1, 399, 400, 401, 719, 720, 721, 8_000, 16_000, 16_001, 123_457]

CONFIGS = {
    "base": {},
    "odd-strides": {"conv_kernel": (7, 5, 3), "conv_stride": (3, 3, 2), "conv_dim": (8, 8, 8)},
    "one-layer": {"conv_kernel": (11,), "conv_stride": (4,), "conv_dim": (8,)},
    "adapter": {"add_adapter": True, "num_adapter_layers": 2, "adapter_stride": 2},
}


def _model(changes):
    # A tiny transformer: only the CNN's geometry matters to the lengths.
    small = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16}
    small["output_hidden_size"] = 16
    return Wav2Vec2Model(Wav2Vec2Config(**small, **changes))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_frame_counts_equal_transformers_output_lengths(name):
    model = _model(CONFIGS[name])
    expected = model._get_feat_extract_output_lengths(torch.tensor(LENGTHS))
    got = frame_counts(model, torch.tensor(LENGTHS), add_adapter=None)
    assert got.dtype == expected.dtype and got.tolist() == expected.tolist()
    assert frame_counts(model.config, LENGTHS, add_adapter=None) == expected.tolist()
    for n, e in zip(LENGTHS, expected.tolist(), strict=True):
        assert frame_counts(model, n, add_adapter=None) == e
        assert int(model._get_feat_extract_output_lengths(n)) == e
    # Without the adapter: the CNN's own output, as transformers counts it when asked so.
    cnn = model._get_feat_extract_output_lengths(torch.tensor(LENGTHS), add_adapter=False)
    assert frame_counts(model, LENGTHS) == cnn.tolist()


@pytest.mark.parametrize("name", ["tiny", "base-random"])
def test_counts_match_the_cnn_output(name):
    backbone = load_backbone(name)
    for n in (400, 401, 4_321, 16_000):
        with torch.inference_mode():
            out = backbone.model.feature_extractor(torch.zeros(1, n))
        assert out.shape[-1] == frame_counts(backbone, n) == frame_counts(backbone.model.config, [n])[0]


def test_hop_and_receptive_field_of_wav2vec2_base():
    config = builtin_config("base-random")
    assert frame_hop(config) == 320 and receptive_field(config) == 400
    field = receptive_field(config)
    assert frame_counts(config, [field - 1, field, field + frame_hop(config)]) == [0, 1, 2]
    for name, changes in CONFIGS.items():
        model = _model(changes)
        field = receptive_field(model)
        assert frame_counts(model, [field - 1, field]) == [0, 1], name
        assert frame_counts(model, field + frame_hop(model)) == 2, name


def test_input_kinds_and_bad_input():
    config = builtin_config("tiny")
    assert frame_counts(config, np.int64(16_000)) == 49
    assert frame_counts(config, np.array([16_000, 400])) == [49, 1]
    assert conv_output_length(torch.tensor([9, 10]), 10, 5).tolist() == [0, 1]
    with pytest.raises(TypeError, match="conv_kernel"):
        frame_counts(object(), [1])


def test_wav2vec2_base_frames_are_one_window_and_hop():
    # pretrain frames its MFCC units and crops as one 400-sample window every 320 samples:
    # for wav2vec2-base's CNN that is exactly its frame count.
    from emocirc import pretrain

    config = builtin_config("base-random")
    assert (pretrain._HOP, pretrain._WINDOW) == (frame_hop(config), receptive_field(config))
    lengths = list(range(0, 5_000, 7)) + [16_000, 48_001]
    assert frame_counts(config, lengths) == [conv_output_length(n, 400, 320) for n in lengths]
