"""emocirc.compat: every private torch / transformers API emocirc uses, exercised, failing loudly.

The code steps aside quietly when some of these are missing (the public
path gives the same numbers, only slower), so an upgrade that broke one
would show only as lost speed.  These tests fail instead, naming the API and
the versions it was checked against (``compat.CHECKED``).  After an upgrade
that fails one: mend the function in ``emocirc/compat.py``, then update
``CHECKED``.  Nothing here skips when an API is gone; only expectations that
depend on the CPU are conditioned on what the code itself detects.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

from emocirc import compat
from emocirc import fast_forward as FF
from emocirc.backbones import load_backbone
from emocirc.frames import frame_counts

VERSIONS = compat.versions()


def _broken(api: str) -> str:
    return f"{api} no longer behaves as emocirc expects ({VERSIONS})"


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny")


def _small(config_class, model_class, **changes):
    config = config_class(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16),
        conv_kernel=(10, 3, 2),
        conv_stride=(5, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        **changes,
    )
    torch.manual_seed(0)
    return model_class(config).eval()


def test_checked_versions_are_recorded():
    assert set(compat.CHECKED) == {"torch", "transformers"}
    assert all(v.count(".") == 2 for v in compat.CHECKED.values()), compat.CHECKED
    assert torch.__version__ and transformers.__version__ in VERSIONS


def test_tensor_version_counts_in_place_changes():
    # fast_forward._weights_stamp: a cached bf16 copy is remade when a weight's version moves.
    weight = torch.nn.Parameter(torch.zeros(3))
    before = compat.tensor_version(weight)
    with torch.no_grad():
        weight.add_(1.0)
    assert compat.tensor_version(weight) > before, _broken("Tensor._version")
    with torch.inference_mode():
        assert compat.tensor_version(torch.zeros(2)) == 0


def test_module_compile_keeps_its_call_where_compat_switches_it(monkeypatch):
    # EmotionClassifier.compiled_layers switches Module.compile's call on and off.
    layer = torch.nn.Linear(2, 2)
    assert compat.compiled_call(layer) is None, _broken("Module._compiled_call_impl")
    calls = []

    def compiled(*args, **kwargs):
        calls.append(args)
        return layer._call_impl(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", lambda fn, **_options: compiled)  # no real compiling here
    layer.compile()
    assert compat.compiled_call(layer) is compiled, _broken("Module.compile -> _compiled_call_impl")
    x = torch.randn(1, 2)
    layer(x)
    assert len(calls) == 1, _broken("a module call through _compiled_call_impl")
    compat.set_compiled_call(layer, None)
    layer(x)
    assert len(calls) == 1, _broken("switching _compiled_call_impl off")
    compat.set_compiled_call(layer, compiled)
    layer(x)
    assert len(calls) == 2, _broken("switching _compiled_call_impl on")


def test_onednn_packed_linear_computes_a_linear_layer():
    # fast_forward._PackedLinear lays out bf16 weights once with these two oneDNN operators.
    assert torch.backends.mkldnn.is_available(), f"this PyTorch build has no oneDNN ({VERSIONS})"
    assert compat.has_onednn_linear_ops(), _broken(
        "torch.ops.mkldnn._reorder_linear_weight/_linear_pointwise"
    )
    gen = torch.Generator().manual_seed(0)
    linear = torch.nn.Linear(16, 8)
    x = torch.randn(4, 16, generator=gen)
    with torch.no_grad():
        # fp32 packing works on every x86-64 CPU: the operators are exercised everywhere.
        packed = compat.onednn_pack_linear_weight(linear.weight)
        torch.testing.assert_close(
            compat.onednn_linear(x, packed, linear.bias), linear(x), msg=lambda m: f"{m} ({VERSIONS})"
        )
        # bf16 only where oneDNN computes it (AVX-512, AVX-NE-CONVERT), as detected by the code.
        if FF.cpu_prepacks_bf16():
            lin16, x16 = linear.to(torch.bfloat16), x.to(torch.bfloat16)
            got = FF._PackedLinear(lin16)(x16)
            torch.testing.assert_close(got, lin16(x16), rtol=2e-2, atol=2e-2)
        else:
            with pytest.raises(RuntimeError):
                compat.onednn_pack_linear_weight(torch.zeros(8, 8, dtype=torch.bfloat16))


@pytest.mark.parametrize("adapter", [False, True])
def test_transformers_output_lengths_equal_frame_counts(adapter):
    extra = {"add_adapter": True, "num_adapter_layers": 2, "adapter_stride": 2, "output_hidden_size": 32}
    model = _small(Wav2Vec2Config, Wav2Vec2Model, **(extra if adapter else {}))
    lengths = torch.tensor([0, 99, 100, 101, 400, 8_000, 16_001])
    expected = compat.transformers_output_lengths(model, lengths)
    assert expected.tolist() == frame_counts(model, lengths, add_adapter=None).tolist(), _broken(
        "_get_feat_extract_output_lengths"
    )
    assert compat.transformers_output_lengths(model, lengths, add_adapter=False).tolist() == frame_counts(
        model, lengths.tolist()
    ), _broken("_get_feat_extract_output_lengths(add_adapter=False)")


@pytest.mark.parametrize(
    ("config_class", "model_class"), [(Wav2Vec2Config, Wav2Vec2Model), (HubertConfig, HubertModel)]
)
def test_the_fast_paths_recognise_wav2vec2_and_hubert(config_class, model_class):
    # run_encoder and EmotionClassifier._fast_cnn_usable select models by class name and
    # attention implementation; a rename would send them quietly to the slow path.
    model = _small(config_class, model_class)
    assert compat.is_plain_wav2vec2_model(model), _broken(f"class name {type(model).__name__}")
    assert compat.is_plain_wav2vec2_encoder(model.encoder), _broken(
        f"class name {type(model.encoder).__name__}"
    )
    assert compat.attn_implementation(model.config) == "sdpa", _broken(
        f"config._attn_implementation = {compat.attn_implementation(model.config)!r}"
    )
    assert not compat.is_plain_wav2vec2_encoder(model.feature_extractor)


@pytest.mark.parametrize(
    ("config_class", "model_class"), [(Wav2Vec2Config, Wav2Vec2Model), (HubertConfig, HubertModel)]
)
def test_own_encoder_loop_is_taken_and_equals_the_model_forward(config_class, model_class, monkeypatch):
    model = _small(config_class, model_class)
    encoder = model.encoder
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 12, 32, generator=gen)
    mask = torch.arange(12)[None] < torch.tensor([12, 7])[:, None]
    with torch.inference_mode():
        expected = encoder(hidden.clone(), attention_mask=mask).last_hidden_state

    def model_forward(*_args, **_kwargs):
        raise AssertionError(f"run_encoder fell back to the model's own forward ({VERSIONS})")

    monkeypatch.setattr(encoder, "forward", model_forward)
    with torch.inference_mode():
        got = FF.run_encoder(encoder, hidden.clone(), mask)
    for i, n in enumerate((12, 7)):
        torch.testing.assert_close(got[i, :n], expected[i, :n], rtol=1e-5, atol=1e-5)


def test_wav2vec2_span_masks_and_negatives():
    # pretrain._masks: wav2vec2's span masking and distractor sampling.
    mask = compat.compute_mask_indices((3, 50), 0.3, 4, min_masks=2)
    assert mask.shape == (3, 50) and mask.dtype == bool, _broken("_compute_mask_indices")
    assert (mask.sum(1) >= 4).all(), _broken("_compute_mask_indices(min_masks=2)")
    negatives = compat.sample_negative_indices((3, 50), 5, mask)
    assert negatives.shape == (3, 50, 5), _broken("_sample_negative_indices")
    flat = np.arange(3 * 50).reshape(3, 50)
    for b in range(3):
        for t in np.flatnonzero(mask[b]):
            drawn = negatives[b, t]
            # Indices into the flattened batch, from the same utterance, never the frame itself.
            assert ((drawn >= b * 50) & (drawn < (b + 1) * 50)).all(), _broken("_sample_negative_indices")
            assert (drawn != flat[b, t]).all(), _broken("_sample_negative_indices")
