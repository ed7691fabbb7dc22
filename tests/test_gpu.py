"""Checks of the CUDA-only paths (skipped without a GPU).

On a machine with a GPU: ``python -m pytest tests/test_gpu.py``.  They check
that the GPU extraction path stays exact under batching and agrees with the
CPU, and that a training step replayed from a CUDA graph does what the eager
step does.
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from emocirc import features as F
from emocirc.backbones import load_backbone
from emocirc.classifier import EmotionClassifier
from emocirc.finetune import FinetuneConfig, finetune
from emocirc.train_step import TrainStep
from tests.conftest import without_dropout

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SR = 16_000


def _signals(lengths, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(lengths):
        t = np.arange(n) / SR
        wave = 0.3 * np.sin(2 * np.pi * (120 + 40 * i) * t) + 0.05 * rng.standard_normal(n)
        out.append(wave.astype(np.float32))
    return out


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)))


@pytest.mark.parametrize("model", ["tiny", "base-random"])
def test_cuda_extraction_is_exact_under_batching_and_matches_the_cpu(model):
    backbone = load_backbone(model)
    waves = _signals([16_000, 23_456, 40_000, 51_234, 9_999])
    cpu = F.extract_features(waves, backbone, device="cpu", precision="fp32", cache=False).embeddings
    batched = F.extract_features(
        waves, backbone, device="cuda", precision="fp32", batch_seconds=100.0, cache=False
    ).embeddings
    alone = F.extract_features(
        waves, backbone, device="cuda", precision="fp32", batch_seconds=0.01, cache=False
    ).embeddings
    assert _rel(batched, alone) < 1e-4
    assert _rel(batched, cpu) < 1e-4
    bf16 = F.extract_features(
        waves, backbone, device="cuda", precision="bf16", batch_seconds=100.0, cache=False
    ).embeddings
    assert _rel(bf16, cpu) < 3e-2
    backbone.model.to("cpu")


def _classifier(seed=0):
    torch.manual_seed(seed)
    backbone = load_backbone("tiny")
    backbone.model.config.apply_spec_augment = False
    model = EmotionClassifier(backbone.model, ["a", "b", "c", "d"], True).cuda()
    model.encoder.freeze_feature_encoder()
    model.eval()  # no dropout: eager and replayed steps then draw no random numbers
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizers = [
        torch.optim.Adam(model.head.parameters(), lr=1e-3, capturable=True),
        torch.optim.Adam(params, lr=1e-4, capturable=True),
    ]
    return model, optimizers


def _steps(count: int, seed: int):
    """``count`` batches of 4 padded 1.5 s signals, and their targets."""
    gen = torch.Generator().manual_seed(seed)
    batches = [
        (torch.randn(4, 24_000, generator=gen), torch.tensor([24_000, 20_000, 23_000, 16_000]))
        for _ in range(count)
    ]
    return batches, [torch.randint(0, 4, (4,), generator=gen) for _ in batches]


@contextlib.contextmanager
def _no_tf32():
    """Plain fp32 products, so that eager and replayed steps can be compared closely."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_cuda_graph_steps_equal_eager_steps():
    batches, targets = _steps(7, seed=0)
    with _no_tf32():
        finals = []
        for graphs in (False, True):
            model, optimizers = _classifier()
            step = TrainStep(model, optimizers, 5.0, None, graphs=graphs)
            for (wav, lens), target in zip(batches, targets, strict=True):
                step(wav, lens, target)
            assert step.num_graphs == (1 if graphs else 0)
            losses = torch.stack(step._losses).cpu()
            finals.append((losses, [p.detach().cpu().clone() for p in model.parameters()]))
            if graphs:
                # A new learning rate drops the graph; the next batch is captured again.
                for opt in optimizers:
                    for group in opt.param_groups:
                        group["lr"] *= 0.5
                step.learning_rates_changed()
                assert step.num_graphs == 0
                step(*batches[0], targets[0])
                assert step.num_graphs == 1
    (eager_losses, eager_params), (graph_losses, graph_params) = finals
    torch.testing.assert_close(graph_losses, eager_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(graph_params, eager_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # The steps did train: the parameters moved.
    model, _ = _classifier()
    moved = max(
        (a - p.detach().cpu()).abs().max().item()
        for a, p in zip(eager_params, model.parameters(), strict=True)
    )
    assert moved > 1e-5


def _train_mode_classifier(dropout: bool):
    """Tiny classifier in training mode, without layer drop or time masking; dropout optional."""
    model, optimizers = _classifier()
    model.encoder.config.layerdrop = 0.0
    if not dropout:
        without_dropout(model)
    return model.train(), optimizers


def test_compiled_layers_replayed_from_cuda_graphs_equal_eager_steps():
    batches, targets = _steps(6, seed=1)
    with _no_tf32():
        finals = []
        for fast in (False, True):
            model, optimizers = _train_mode_classifier(dropout=False)
            model.compile_layers = fast
            step = TrainStep(model, optimizers, 5.0, None, graphs=fast)
            for (wav, lens), target in zip(batches, targets, strict=True):
                step(wav, lens, target)
            assert step.num_graphs == (1 if fast else 0)
            finals.append(
                (torch.stack(step._losses).cpu(), [p.detach().cpu().clone() for p in model.parameters()])
            )
    (eager_losses, eager_params), (fast_losses, fast_params) = finals
    torch.testing.assert_close(fast_losses, eager_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(fast_params, eager_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("compiled", [False, True])
def test_replayed_steps_draw_new_dropout_masks(compiled):
    # With learning rates of zero only dropout can change the loss of a repeated batch.
    model, optimizers = _train_mode_classifier(dropout=True)
    model.compile_layers = compiled
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = 0.0
    step = TrainStep(model, optimizers, 5.0, torch.bfloat16, graphs=True)
    wav, lens = torch.randn(4, 24_000, generator=torch.Generator().manual_seed(2)), torch.tensor([24_000] * 4)
    for _ in range(6):
        step(wav, lens, torch.tensor([0, 1, 2, 3]))
    assert step.num_graphs == 1
    replayed = torch.stack(step._losses[3:]).float().cpu()  # steps 4-6 come from the graph
    assert len(set(replayed.tolist())) == len(replayed), replayed


@pytest.mark.parametrize("compiled", [False, True])
def test_finetune_with_cuda_graphs_end_to_end(tmp_path, compiled):
    rows = []
    rng = np.random.default_rng(0)
    for i, label in enumerate(["anger", "happiness", "sadness", "neutral"] * 8):
        path = tmp_path / f"u{i:02d}.wav"
        n = int(rng.uniform(1.0, 2.0) * SR)
        pitch = {"anger": 300, "happiness": 250, "sadness": 120, "neutral": 180}[label]
        wave = 0.3 * np.sin(2 * np.pi * pitch * np.arange(n) / SR) + 0.02 * rng.standard_normal(n)
        sf.write(path, wave.astype(np.float32), SR)
        rows.append({"id": f"u{i:02d}", "path": str(path), "label": label, "speaker": f"s{i % 4}"})
    table = pd.DataFrame(rows)
    messages = []
    config = FinetuneConfig(
        backbone="tiny",
        epochs=3,
        lr_backbone=5e-4,
        lr_head=5e-3,
        cuda_graphs=True,
        compile=compiled,
        pad_multiple=1.0,
        device="cuda",
    )
    out = finetune(table, config, tmp_path / "run", log=messages.append)
    assert any("CUDA graph" in m for m in messages), messages
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_epoch"] >= 1
    log = pd.read_csv(out / "log.csv")
    assert np.isfinite(log["train_loss"]).all()
