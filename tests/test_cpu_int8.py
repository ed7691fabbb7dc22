"""Tests of the int8 path for CPUs without native bf16 (:mod:`emocirc.cpu_int8`)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from emocirc.backbones import load_backbone
from emocirc.cpu_int8 import FORCE_BF16_ENV, cpu_has_native_bf16, int8_available
from emocirc.errors import EmocircError
from emocirc.features import extract_features, resolve_precision

#: Largest per-utterance, per-layer relative difference from fp32 allowed for int8
#: (the tiny random model measures about 8e-3; wav2vec2-base about 3e-2, benchmarks/README.md).
INT8_TOLERANCE = 0.08

needs_int8 = pytest.mark.skipif(not int8_available(), reason="this PyTorch build has no quantised engine")


def _waves(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (4000, 6400, 9600)]


def test_the_bf16_switch_is_honoured(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setenv(FORCE_BF16_ENV, "0")
    assert not cpu_has_native_bf16(" avx512_bf16 amx_bf16")
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setenv(FORCE_BF16_ENV, "1")
    assert cpu_has_native_bf16("flags: avx2")
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.delenv(FORCE_BF16_ENV)
    assert cpu_has_native_bf16("flags: avx512f avx512_bf16") and not cpu_has_native_bf16("flags: avx512f")


def test_int8_is_for_cpus_only():
    assert resolve_precision("int8", torch.device("cpu")) == "int8"
    with pytest.raises(EmocircError, match="int8.*expected a CPU"):
        resolve_precision("int8", torch.device("cuda"))


@needs_int8
def test_int8_stays_near_fp32_and_leaves_the_model_alone():
    backbone = load_backbone("tiny")
    waves = _waves()
    exact = extract_features(waves, backbone, device="cpu", precision="fp32", cache=False).embeddings
    int8 = extract_features(waves, backbone, device="cpu", precision="int8", cache=False)
    assert int8.info["precision"] == "int8"
    rel = np.linalg.norm(int8.embeddings - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    assert rel.max() < INT8_TOLERANCE
    assert rel[:, 1:].max() > 0  # it is a different computation
    # The int8 copy lives outside the model: the backbone stays fp32 and copyable,
    # and a copy still gives the fp32 result.
    assert {type(m) for m in backbone.model.modules() if "Linear" in type(m).__name__} == {torch.nn.Linear}
    clone = copy.deepcopy(backbone)
    again = extract_features(waves, clone, device="cpu", precision="fp32", cache=False).embeddings
    np.testing.assert_allclose(again, exact, rtol=1e-5, atol=1e-6)


@needs_int8
def test_the_int8_copy_follows_weight_changes():
    backbone = load_backbone("tiny")
    waves = _waves(1)[:1]
    before = extract_features(waves, backbone, device="cpu", precision="int8", cache=False).embeddings
    with torch.no_grad():
        for layer in backbone.model.encoder.layers:
            layer.feed_forward.output_dense.weight.mul_(2.0)
    after = extract_features(waves, backbone, device="cpu", precision="int8", cache=False).embeddings
    exact = extract_features(waves, backbone, device="cpu", precision="fp32", cache=False).embeddings
    assert not np.allclose(after[:, -1], before[:, -1])
    rel = np.linalg.norm(after - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    assert rel.max() < INT8_TOLERANCE


@needs_int8
def test_int8_runs_wavlm_whose_attention_reads_its_projection_tensors(tmp_path):
    from transformers import AutoConfig, AutoModel

    from emocirc.backbones import builtin_config
    from emocirc.cpu_int8 import int8_copy

    tiny = builtin_config("tiny").to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        tiny.pop(key, None)
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.for_model("wavlm", **tiny)).save_pretrained(tmp_path / "wavlm")
    backbone = load_backbone(tmp_path / "wavlm")
    waves = _waves()
    exact = extract_features(waves, backbone, device="cpu", precision="fp32", cache=False).embeddings
    int8 = extract_features(waves, backbone, device="cpu", precision="int8", cache=False).embeddings
    rel = np.linalg.norm(int8 - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    assert rel.max() < INT8_TOLERANCE and rel[:, 1:].max() > 0
    # The attention projections stay fp32; the feed-forward linears are quantised.
    kinds = {
        name.rsplit(".", 1)[-1]: type(m).__module__ for name, m in int8_copy(backbone.model).named_modules()
    }
    assert "quantized" not in kinds["q_proj"] and "quantized" in kinds["intermediate_dense"]


@needs_int8
def test_int8_quantises_every_linear_of_wav2vec2_as_before():
    from emocirc.cpu_int8 import int8_copy

    model = load_backbone("tiny").model
    with torch.inference_mode(False):
        old = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).float().eval(), {torch.nn.Linear}, dtype=torch.qint8
        )
    new = int8_copy(model)
    x = torch.from_numpy(_waves()[1])[None]
    with torch.inference_mode():
        torch.testing.assert_close(new(x).last_hidden_state, old(x).last_hidden_state, rtol=0, atol=0)
