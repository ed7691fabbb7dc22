"""The settings of a self-supervised pre-training run (:class:`PretrainConfig`), apart from the training code.

Kept light (no torch) so that ``emocirc --help`` and argument parsing stay
fast; :mod:`emocirc.pretrain` re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass

from emocirc._settings import Settings
from emocirc.errors import EmocircError

#: Pre-training objectives: wav2vec 2.0's contrastive task, HuBERT's masked prediction of k-means units.
OBJECTIVES: tuple[str, ...] = ("wav2vec2", "hubert")


@dataclass
class PretrainConfig(Settings):
    """Every hyper-parameter of a pre-training run.

    The architecture is wav2vec2-base's (seven group-norm convolutions with
    strides 5, 2, 2, 2, 2, 2, 2: 20 ms frames; a convolutional positional
    embedding; post-norm transformer layers) at a chosen width and depth.

    Parameters
    ----------
    objective:
        ``"wav2vec2"`` (masked latent frames, contrastive task over Gumbel-quantised
        targets and a diversity loss, as ``Wav2Vec2ForPreTraining``) or ``"hubert"``
        (masked prediction of k-means units of MFCC frames, HuBERT's first iteration).
    hidden_size, num_layers, num_heads, intermediate_size, conv_dim:
        Transformer width, depth, attention heads, feed-forward width; channels
        of every CNN layer.
    steps, batch_size, crop_seconds:
        Optimiser steps; crops per step; length of each random crop of the
        (concatenated, per-file normalised) training audio.
    lr, warmup_fraction, weight_decay, max_grad_norm:
        AdamW peak learning rate, reached linearly over this fraction of the
        steps and then decayed linearly to zero; decoupled weight decay; clipping.
    mask_prob, mask_length:
        Span masking of the latent frames (``_compute_mask_indices``): spans of
        ``mask_length`` frames start at a ``mask_prob`` share of the frames.
    num_negatives, codevector_groups, codevectors_per_group, codevector_dim, diversity_weight:
        The wav2vec 2.0 objective: distractors per masked frame, product
        quantiser size, and the weight of the codebook diversity loss.
    gumbel_start, gumbel_end:
        Gumbel-softmax temperature, annealed geometrically over the steps.
    n_clusters:
        The HuBERT objective: k-means units of 39-dimensional MFCC frames.
    dropout:
        Dropout of the transformer during pre-training (the saved encoder's
        configuration keeps ``tiny``'s dropouts for fine-tuning).
    held_out_fraction, eval_crops:
        Share of the files kept out of training (chosen by a hash of their
        path); fixed held-out crops scored at every evaluation.
    eval_every, checkpoint_every:
        Steps between held-out evaluations (one log row each) and between
        checkpoints (not hashed).
    seed:
        Seeds the initialisation, the crops, the masks, the negatives and dropout.
    device:
        ``"cpu"`` (the default: runs are deterministic there), ``"cuda"`` or ``"auto"`` (not hashed).

    Examples
    --------
    >>> cfg = PretrainConfig(steps=10)
    >>> cfg.objective, cfg.hidden_size, cfg.num_layers
    ('hubert', 64, 4)
    >>> cfg.hash() == PretrainConfig(steps=10, device="cuda").hash()
    True
    >>> cfg.hash() == PretrainConfig(steps=11).hash()
    False
    """

    KIND = "pre-training"
    #: Fields that do not change what is learned (left out of the run hash).
    NOT_HASHED = ("device", "eval_every", "checkpoint_every")

    objective: str = "hubert"
    hidden_size: int = 64
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 128
    conv_dim: int = 64
    steps: int = 1000
    batch_size: int = 8
    crop_seconds: float = 2.0
    lr: float = 2e-3
    warmup_fraction: float = 0.08
    weight_decay: float = 0.01
    max_grad_norm: float = 5.0
    mask_prob: float = 0.65
    mask_length: int = 10
    num_negatives: int = 50
    codevector_groups: int = 2
    codevectors_per_group: int = 64
    codevector_dim: int = 128
    diversity_weight: float = 0.1
    gumbel_start: float = 2.0
    gumbel_end: float = 0.5
    n_clusters: int = 64
    dropout: float = 0.0
    held_out_fraction: float = 0.05
    eval_crops: int = 32
    eval_every: int = 100
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise EmocircError(
                f"pre-training objective {self.objective!r}: expected one of {', '.join(OBJECTIVES)}"
            )
        for name in (
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "conv_dim",
            "steps",
            "batch_size",
            "mask_length",
            "num_negatives",
            "codevector_groups",
            "codevectors_per_group",
            "codevector_dim",
            "n_clusters",
            "eval_crops",
            "eval_every",
            "checkpoint_every",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmocircError(f"{name}={value!r}: expected a positive integer")
        if self.hidden_size % self.num_heads:
            raise EmocircError(
                f"hidden_size={self.hidden_size} is not a multiple of num_heads={self.num_heads}"
            )
        if self.codevector_dim % self.codevector_groups:
            raise EmocircError(
                f"codevector_dim={self.codevector_dim} is not a multiple of codevector_groups={self.codevector_groups}"
            )
        if not 0.5 <= self.crop_seconds <= 30:
            raise EmocircError(f"crop_seconds={self.crop_seconds!r}: expected seconds in [0.5, 30]")
        for name in ("lr", "max_grad_norm", "gumbel_start", "gumbel_end"):
            if not getattr(self, name) > 0:
                raise EmocircError(f"{name}={getattr(self, name)!r}: expected a positive number")
        for name in ("mask_prob", "warmup_fraction", "held_out_fraction", "dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise EmocircError(f"{name}={getattr(self, name)!r}: expected a fraction in [0, 1)")
        if not self.weight_decay >= 0:
            raise EmocircError(f"weight_decay={self.weight_decay!r}: expected a number >= 0")
