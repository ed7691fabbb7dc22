"""Figures of pre-training: the wav2vec2 architecture, its self-supervised objective, frame outputs, probes.

The seed report's Figures 7-9 (the architecture, the pre-training task, the
t x 768 output) redrawn from a backbone's own configuration, and the
per-layer SUPERB-style probes (:mod:`emocirc.probing`) of several models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from emocirc.errors import EmocircError
from emocirc.frames import frame_hop
from emocirc.plotting.style import FIGURE_WIDTH, apply_style

_MODEL_COLORS = ("#1f77b4", "#7f7f7f", "#d62728", "#2ca02c", "#9467bd")


def _new_axes(ax: Any, size: tuple[float, float]):
    if ax is not None:
        return ax.figure, ax
    apply_style()
    fig, ax = plt.subplots(figsize=size)
    return fig, ax


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str, fontsize: float = 8.5) -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=color, ec="0.3", lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], style: str = "-|>") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, color="0.3", lw=0.8))


def architecture_diagram(config: Any, ax: Any = None, title: str | None = None) -> Figure:
    """The wav2vec2 architecture with the sizes of ``config`` (the seed's Figure 7).

    Raw audio -> convolutional feature encoder (its layers, strides and
    channels) -> latent frames z every ``hop`` ms -> (masking) -> transformer
    (layers x width, heads) -> context c; beside it the quantiser that
    turns z into the targets q of pre-training.

    Examples
    --------
    >>> from emocirc.backbones import builtin_config
    >>> fig = architecture_diagram(builtin_config("tiny"))
    >>> any("4 layers" in t.get_text() for t in fig.axes[0].texts)
    True
    """
    for name in ("conv_stride", "conv_dim", "num_hidden_layers", "hidden_size", "num_attention_heads"):
        if not hasattr(config, name):
            raise EmocircError(f"config: expected a wav2vec2-family configuration with {name!r}")
    fig, ax = _new_axes(ax, (FIGURE_WIDTH, 3.6))
    hop_ms = 1000 * frame_hop(config) / 16000
    n_conv = len(config.conv_stride)
    strides = "x".join(str(s) for s in config.conv_stride)
    _box(ax, 0.02, 0.05, 0.96, 0.14, "raw waveform, 16 kHz", "#f2f2f2")
    _box(
        ax, 0.02, 0.29, 0.96, 0.16,
        f"CNN feature encoder: {n_conv} conv layers, strides {strides},\n"
        f"{config.conv_dim[-1]} channels, group norm after the first",
        "#cfe2f3",
    )  # fmt: skip
    _box(ax, 0.02, 0.52, 0.6, 0.12, f"latent frames z (one per {hop_ms:.0f} ms), some masked", "#fce5cd")
    _box(ax, 0.68, 0.52, 0.30, 0.12, "quantiser: z -> targets q", "#d9ead3")
    heads = config.num_attention_heads
    _box(
        ax, 0.02, 0.72, 0.6, 0.14,
        f"transformer: {config.num_hidden_layers} layers of {config.hidden_size}, {heads} heads",
        "#cfe2f3",
    )  # fmt: skip
    _box(ax, 0.02, 0.90, 0.6, 0.08, f"context c: T x {config.hidden_size}", "#f2f2f2")
    _box(ax, 0.68, 0.80, 0.30, 0.12, "contrastive loss:\nc at masked frames vs q", "#f4cccc", fontsize=8)
    for a, b in [((0.5, 0.19), (0.5, 0.29)), ((0.32, 0.45), (0.32, 0.52)), ((0.32, 0.64), (0.32, 0.72))]:
        _arrow(ax, a, b)
    _arrow(ax, (0.32, 0.86), (0.32, 0.90))
    _arrow(ax, (0.75, 0.45), (0.83, 0.52))
    _arrow(ax, (0.83, 0.64), (0.83, 0.80))
    _arrow(ax, (0.62, 0.94), (0.68, 0.88))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    ax.set_title(title or "wav2vec2: the architecture (after the seed's Figure 7)")
    return fig


def objective_diagram(
    n_frames: int = 10, masked: Sequence[int] = (3, 4, 5), objective: str = "contrastive", ax: Any = None
) -> Figure:
    """The self-supervised task (the seed's Figure 8): predict masked frames from their context.

    A row of latent frames z, some replaced by a learned mask vector [M];
    the transformer reads the whole row and, at each masked position, must
    either pick the true quantised target q among distractors drawn from
    other frames of the same utterance (``objective="contrastive"`` or
    ``"wav2vec2"``, wav2vec 2.0) or name the frame's k-means unit (``"hubert"``, HuBERT).

    Examples
    --------
    >>> fig = objective_diagram(n_frames=8, masked=(2, 3))
    >>> sum(t.get_text() == "[M]" for t in fig.axes[0].texts)
    2
    """
    contrastive = "at each masked frame: is c closest to its own target q, or to one of K distractors?"
    tasks = {
        "contrastive": contrastive,
        "wav2vec2": contrastive,
        "hubert": "at each masked frame: which k-means unit was the frame? (cross-entropy over the units)",
    }
    if objective not in tasks:
        raise EmocircError(f"objective={objective!r}: expected one of {', '.join(tasks)}")
    masked = sorted({int(i) for i in masked})
    if not masked or min(masked) < 0 or max(masked) >= n_frames:
        raise EmocircError(f"masked={masked}: expected frame indices in [0, {n_frames})")
    fig, ax = _new_axes(ax, (FIGURE_WIDTH, 3.0))
    w = 1.0 / n_frames
    for i in range(n_frames):
        x = i * w + 0.1 * w
        hidden = i in masked
        _box(ax, x, 0.1, 0.8 * w, 0.14, "[M]" if hidden else f"z{i}", "#bfbfbf" if hidden else "#fce5cd")
        _arrow(ax, (x + 0.4 * w, 0.26), (x + 0.4 * w, 0.42))
    _box(ax, 0.02, 0.42, 0.96, 0.14, "transformer (the masked frames' content is hidden from it)", "#cfe2f3")
    for i in masked:
        x = i * w + 0.1 * w
        _arrow(ax, (x + 0.4 * w, 0.56), (x + 0.4 * w, 0.70))
        _box(ax, x, 0.70, 0.8 * w, 0.12, f"c{i}", "#f2f2f2")
    first, last = masked[0] * w, (masked[-1] + 1) * w
    ax.text(
        (first + last) / 2, 0.92,
        tasks[objective],
        ha="center", va="center", fontsize=8.5,
    )  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    name = "masked unit prediction" if objective == "hubert" else "contrastive task"
    ax.set_title(f"Self-supervised pre-training: masked frames, {name} (after the seed's Figure 8)")
    return fig


def frame_output(
    frames: np.ndarray,
    frame_rate: float = 50.0,
    phones: Sequence[str] | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Figure:
    """One utterance's hidden state as a T x n image (the seed's Figure 9), phonemes along the top.

    Parameters
    ----------
    frames:
        T x n array (one hidden state of one utterance).
    frame_rate:
        Frames per second (50 for wav2vec2).
    phones:
        Optional phoneme per frame; each run is labelled once.

    Examples
    --------
    >>> fig = frame_output(np.random.default_rng(0).normal(size=(40, 16)), phones=["a"] * 20 + ["b"] * 20)
    >>> fig.axes[0].get_xlabel()
    'time (s)'
    """
    frames = np.asarray(frames, dtype=float)
    if frames.ndim != 2:
        raise EmocircError(
            f"frames: expected T x n (one hidden state of one utterance), got shape {frames.shape}"
        )
    if phones is not None and len(phones) != len(frames):
        raise EmocircError(f"phones: expected {len(frames)} labels (one per frame), got {len(phones)}")
    fig, ax = _new_axes(ax, (FIGURE_WIDTH, 3.2))
    t_end = len(frames) / frame_rate
    scale = np.percentile(np.abs(frames), 98) or 1.0
    image = ax.imshow(
        frames.T, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-scale, vmax=scale,
        extent=(0.0, t_end, 0, frames.shape[1]), interpolation="nearest",
    )  # fmt: skip
    fig.colorbar(image, ax=ax, pad=0.01)
    if phones is not None:
        labels = list(phones)
        start = 0
        for i in range(1, len(labels) + 1):
            if i == len(labels) or labels[i] != labels[start]:
                if labels[start] != "sil":
                    ax.text((start + i) / 2 / frame_rate, frames.shape[1] * 1.02, labels[start],
                            ha="center", va="bottom", fontsize=7)  # fmt: skip
                start = i
    ax.set_xlabel("time (s)")
    ax.set_ylabel("dimension")
    ax.set_title(
        title or f"Output of one utterance: {len(frames)} frames x {frames.shape[1]} dimensions", pad=22
    )
    return fig


def probe_comparison(
    tables: Mapping[str, pd.DataFrame], ax: Any = None, title: str | None = None, ylabel: str | None = None
) -> Figure:
    """Probe accuracy per layer for several models (one line each), chance dotted.

    ``tables`` maps a model's name to a probe table (the ``table`` of a
    :class:`emocirc.probing.FrameProbeResult`: ``layer``, ``score``,
    ``chance``).

    Examples
    --------
    >>> t = pd.DataFrame({"layer": [0, 1, 2], "score": [0.2, 0.5, 0.6], "chance": 0.1})
    >>> fig = probe_comparison({"pre-trained": t, "random init": t.assign(score=0.2)})
    >>> [line.get_label() for line in fig.axes[0].lines][:2]
    ['pre-trained', 'random init']
    """
    if not tables:
        raise EmocircError("tables: expected at least one probe table")
    fig, ax = _new_axes(ax, (FIGURE_WIDTH, 3.4))
    for (name, table), color in zip(tables.items(), _MODEL_COLORS * 4, strict=False):
        missing = {"layer", "score"} - set(table.columns)
        if missing:
            raise EmocircError(f"probe table {name!r}: missing columns {sorted(missing)}")
        rows = table.sort_values("layer")
        ax.plot(rows["layer"], rows["score"], marker="o", color=color, label=str(name))
    for table in tables.values():
        if "chance" in table:
            ax.axhline(float(table["chance"].iloc[0]), color="0.5", linestyle=":", linewidth=1)
            break
    ax.set_xticks(sorted({int(k) for t in tables.values() for k in t["layer"]}))
    ax.set_xlabel("hidden state (0 = CNN features, then transformer layers)")
    ax.set_ylabel(ylabel or "accuracy on held-out data")
    ax.legend(loc="best")
    ax.set_title(title or "Probe accuracy per hidden state")
    return fig


def pretraining_curves(log: pd.DataFrame, ax: Any = None, title: str | None = None) -> Figure:
    """Loss (left axis) and masked-prediction accuracy on held-out audio (right axis) per step.

    ``log`` is a pre-training run's ``log.jsonl`` as a table: columns
    ``step``, ``held_out_loss``, ``held_out_accuracy`` and, where logged,
    ``train_loss`` (empty at step 0, before any training).

    Examples
    --------
    >>> log = pd.DataFrame({"step": [0, 100, 200], "train_loss": [None, 3.1, 2.5],
    ...                     "held_out_loss": [4.0, 3.0, 2.6], "held_out_accuracy": [0.05, 0.3, 0.4]})
    >>> fig = pretraining_curves(log)
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (2, 'training step')
    """
    missing = {"step", "held_out_loss", "held_out_accuracy"} - set(log.columns)
    if missing:
        raise EmocircError(
            f"pre-training log lacks columns {sorted(missing)}: expected the log.jsonl of emocirc pretrain"
        )
    fig, ax = _new_axes(ax, (FIGURE_WIDTH, 3.4))
    if "train_loss" in log:
        trained = log.dropna(subset=["train_loss"])
        ax.plot(trained["step"], trained["train_loss"], color="0.6", label="training loss")
    ax.plot(log["step"], log["held_out_loss"], marker="o", color="0.2", label="held-out loss")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    right = ax.twinx()
    right.plot(log["step"], 100 * log["held_out_accuracy"], marker="^", color="#d62728",
               label="held-out masked-prediction accuracy")  # fmt: skip
    right.set_ylabel("masked-prediction accuracy (%)", color="#d62728")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right")
    ax.set_title(title or "Pre-training: loss and masked-prediction accuracy on held-out audio")
    return fig


__all__ = [
    "architecture_diagram",
    "frame_output",
    "objective_diagram",
    "pretraining_curves",
    "probe_comparison",
]
