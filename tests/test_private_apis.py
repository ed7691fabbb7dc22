"""The private APIs of torch and transformers that emocirc relies on, checked loudly.

emocirc's fast paths step aside quietly when a private API they use is
missing or changed (the public path gives the same numbers, only slower), so
an upgrade that breaks one would show only as lost speed. These tests fail
instead, naming the API and the versions it was last checked against. After
an upgrade that fails one: mend the code that uses the name (grep for it),
then update ``CHECKED``.
"""

from __future__ import annotations

import pytest
import torch
import transformers

from emocirc import fast_forward as F
from emocirc.backbones import load_backbone
from emocirc.frames import frame_counts

CHECKED = {"torch": "2.13.0", "transformers": "5.24.0"}
VERSIONS = f"checked against torch {CHECKED['torch']} and transformers {CHECKED['transformers']}; " + (
    f"now torch {torch.__version__}, transformers {transformers.__version__}"
)


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny")


def test_tensor_version_counts_in_place_changes():
    # features._weights_stamp: a cached bf16 copy is remade when a weight's _version moves.
    weight = torch.nn.Parameter(torch.zeros(3))
    before = weight._version
    with torch.no_grad():
        weight.add_(1.0)
    assert weight._version > before, f"Tensor._version no longer counts in-place changes ({VERSIONS})"


def test_module_compile_keeps_its_call_in_compiled_call_impl(monkeypatch):
    # EmotionClassifier.compiled_layers switches Module.compile's call on and off through this attribute.
    layer = torch.nn.Linear(2, 2)
    assert layer._compiled_call_impl is None, f"Module._compiled_call_impl is gone ({VERSIONS})"
    calls = []

    def compiled(*args, **kwargs):
        calls.append(args)
        return layer._call_impl(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", lambda fn, **_options: compiled)  # no real compiling here
    layer.compile()
    assert layer._compiled_call_impl is compiled, (
        f"Module.compile no longer sets _compiled_call_impl ({VERSIONS})"
    )
    x = torch.randn(1, 2)
    layer(x)
    assert len(calls) == 1, f"a module call no longer goes through _compiled_call_impl ({VERSIONS})"
    layer._compiled_call_impl = None
    layer(x)
    assert len(calls) == 1


def test_onednn_linear_ops_exist_and_compute_a_linear_layer():
    # features._PackedLinear lays out bf16 weights once with these two oneDNN operators.
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch build has no oneDNN; emocirc packs no layers")
    for name in ("_reorder_linear_weight", "_linear_pointwise"):
        assert hasattr(torch.ops.mkldnn, name), f"torch.ops.mkldnn.{name} is gone ({VERSIONS})"
    if not F.cpu_prepacks_bf16():
        pytest.skip("oneDNN computes no bf16 on this CPU (before AVX-512): nothing is packed here")
    linear = torch.nn.Linear(16, 8).to(torch.bfloat16)
    x = torch.randn(4, 16, dtype=torch.bfloat16)
    torch.testing.assert_close(F._PackedLinear(linear)(x), linear(x), rtol=2e-2, atol=2e-2)


def test_feature_extractor_output_lengths_match_the_cnn_arithmetic(tiny):
    # EmotionClassifier.pool counts each utterance's frames with this transformers method.
    lengths = [16_000, 8_000, 400, 401]
    got = tiny.model._get_feat_extract_output_lengths(torch.tensor(lengths))
    assert got.tolist() == frame_counts(tiny.model, lengths), VERSIONS


def test_the_fast_paths_still_recognise_wav2vec2(tiny):
    # features._run_encoder and EmotionClassifier._fast_cnn_usable select models by class
    # name and attention implementation; a rename would send them quietly to the slow path.
    model = tiny.model
    assert type(model).__name__ == "Wav2Vec2Model", VERSIONS
    assert type(model.encoder).__name__ == "Wav2Vec2Encoder", VERSIONS
    assert getattr(model.config, "_attn_implementation", None) == "sdpa", (
        f"config._attn_implementation is {getattr(model.config, '_attn_implementation', None)!r} ({VERSIONS})"
    )


def test_own_encoder_loop_is_taken_for_wav2vec2(tiny, monkeypatch):
    encoder = tiny.model.encoder

    def model_forward(*_args, **_kwargs):
        raise AssertionError(f"_run_encoder fell back to the model's own forward ({VERSIONS})")

    monkeypatch.setattr(encoder, "forward", model_forward)
    hidden = torch.randn(2, 12, tiny.hidden_size)
    mask = torch.arange(12)[None] < torch.tensor([12, 7])[:, None]
    with torch.inference_mode():
        out = F.run_encoder(encoder.eval(), hidden, mask)
    assert out.shape == hidden.shape
