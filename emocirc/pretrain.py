"""Self-supervised pre-training of a small wav2vec2 on a folder of speech (``emocirc pretrain``).

wav2vec2-base was pre-trained on 960 hours of LibriSpeech; no such checkpoint
can be downloaded here, so the project pre-trains its own, smaller one on the
embedded read-speech corpus.  :func:`pretrain` reads every WAV file under a
folder (nothing else: the phoneme alignments beside the files are for
probing only), keeps a hashed share of the files out as held-out audio, and
trains a wav2vec2-architecture encoder with one of two objectives:

``"wav2vec2"``
    The seed's own: latent frames are masked in spans
    (``_compute_mask_indices``), the transformer's output at each masked frame
    must pick the Gumbel-quantised latent of that frame among distractors from
    the same crop (``_sample_negative_indices``), plus the codebook diversity
    loss; exactly ``transformers.Wav2Vec2ForPreTraining``.
``"hubert"``
    HuBERT's first iteration: the targets are k-means units of MFCC frames
    (13 coefficients with deltas, 25 ms windows on the encoder's 20 ms hop,
    ``MiniBatchKMeans``), predicted at the masked frames with cross-entropy.

The built-in backbone uses ``"hubert"``, chosen by measurement on the
held-out audio (``benchmarks/README.md``, "pre-training in miniature"; the
``tiny`` architecture, batches of 8 x 2 s, 300 steps on one CPU thread): the
wav2vec 2.0 objective's held-out loss settled at ln(51) = 3.93 (all 51
similarities equal: collapsed) with its accuracy at chance (0.027 at random
init, 0.031 after; 1/51 = 0.020) at learning rates 2e-3 and 5e-4, while
HuBERT's went from 4.32 to 3.85 (below the uniform ln(64) = 4.16) with its
masked-prediction accuracy from 0.008 to 0.078 (uniform: 0.016), at 40 % less
CPU per step.

A run is a pure function of its configuration and corpus on CPU: each step's
crops, masks, negatives and dropout come from generators seeded by
``(seed, step)``, so a run resumed from a checkpoint (written every
``checkpoint_every`` steps as one directory renamed into place, files
fsynced) continues exactly as an uninterrupted one.  The output is a Hugging
Face checkpoint directory (``model.safetensors``, ``config.json``,
``preprocessor_config.json``) of the bare ``Wav2Vec2Model``, with
``pretrain_config.json``, ``log.jsonl`` (train loss, held-out loss and
masked-prediction accuracy per evaluation) and ``metrics.json`` (written last:
its presence means the run is complete).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emocirc._io import atomic_dir, atomic_path, recover_dir, write_json
from emocirc.audio import SAMPLE_RATE, load_audio
from emocirc.errors import EmocircError
from emocirc.frames import conv_output_length
from emocirc.pretrain_config import OBJECTIVES, PretrainConfig

#: Version of the training code: part of the built-in backbone's cache key.
#: Bump it whenever a change here changes the weights a configuration produces.
PRETRAIN_VERSION = 1

_CHECKPOINT = "checkpoint"
#: Dropout settings of the encoder: ``config.dropout`` while pre-training, ``tiny``'s in the saved encoder.
_DROPOUTS = (
    "hidden_dropout",
    "attention_dropout",
    "activation_dropout",
    "feat_proj_dropout",
    "feat_quantizer_dropout",
)
_HOP = 320  # samples per latent frame of wav2vec2's CNN (5 * 2**6): frames.frame_hop (tests/test_frames.py)
_WINDOW = 400  # receptive field of the CNN in samples (25 ms): frames.receptive_field

__all__ = [
    "OBJECTIVES",
    "PRETRAIN_VERSION",
    "PretrainConfig",
    "corpus_files",
    "encoder_config",
    "mfcc",
    "pretrain",
    "read_pretrain_log",
]


# --------------------------------------------------------------------------
# Corpus


def corpus_files(corpus: str | os.PathLike[str]) -> list[Path]:
    """Every ``.wav`` file under ``corpus`` (recursively, sorted by relative path).

    Examples
    --------
    >>> import tempfile
    >>> corpus_files(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: ... no .wav files under it; expected a folder of 16 kHz mono WAV files
    """
    root = Path(corpus).expanduser()
    if not root.is_dir():
        raise EmocircError(
            f"pre-training corpus {root} is not a folder; expected a folder of 16 kHz mono WAV files"
        )
    files = sorted(
        (
            p
            for p in root.rglob("*")
            if p.suffix.lower() == ".wav" and p.is_file() and not p.name.startswith(".")
        ),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        raise EmocircError(
            f"pre-training corpus {root}: no .wav files under it; expected a folder of 16 kHz mono WAV files"
        )
    return files


def _is_held_out(relative: str, fraction: float) -> bool:
    digest = hashlib.blake2b(relative.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < fraction


def _split_files(root: Path, files: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    held = [f for f in files if _is_held_out(f.relative_to(root).as_posix(), fraction)]
    if fraction > 0 and not held and len(files) > 1:
        held = [files[-1]]
    train = [f for f in files if f not in set(held)]
    if not train:
        raise EmocircError(f"pre-training corpus {root}: {len(files)} file(s), none left for training")
    return train, held


def _stream(files: list[Path]) -> np.ndarray:
    """The files, each normalised to zero mean and unit variance (as the feature extractor does), end to end."""
    parts = []
    for path in files:
        x = load_audio(path).astype(np.float64)
        x = (x - x.mean()) / math.sqrt(x.var() + 1e-7)
        parts.append(x.astype(np.float32))
    return np.concatenate(parts)


def corpus_fingerprint(corpus: str | os.PathLike[str]) -> str:
    """Hash of the relative paths, sizes and modification-free contents of a corpus's WAV files (16 hex)."""
    root = Path(corpus).expanduser()
    digest = hashlib.blake2b(digest_size=8)
    for path in corpus_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hashlib.blake2b(path.read_bytes(), digest_size=8).digest())
    return digest.hexdigest()


# --------------------------------------------------------------------------
# MFCC targets (HuBERT's first iteration)


def _mel_filterbank(n_mels: int, n_fft: int, sr: int) -> np.ndarray:
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(sr / 2), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def mfcc(signal: np.ndarray, n_mfcc: int = 13, n_mels: int = 40) -> np.ndarray:
    """MFCCs with deltas on wav2vec2's frame grid: frame ``t`` covers samples ``[320 t, 320 t + 400)``.

    Returns ``(frames, 3 * n_mfcc)``: the coefficients, their deltas and
    delta-deltas; the frame count equals the CNN's for the same signal.

    Examples
    --------
    >>> mfcc(np.random.default_rng(0).standard_normal(16000)).shape
    (49, 39)
    """
    from scipy.fft import dct

    x = np.asarray(signal, dtype=np.float64)
    if x.size < _WINDOW:
        return np.zeros((0, 3 * n_mfcc))
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    n = conv_output_length(x.size, _WINDOW, _HOP)  # the CNN's frame count (frames.frame_counts)
    frames = np.lib.stride_tricks.sliding_window_view(x, _WINDOW)[::_HOP][:n] * np.hamming(_WINDOW)
    power = np.abs(np.fft.rfft(frames, n=512)) ** 2
    mel = np.log(power @ _mel_filterbank(n_mels, 512, SAMPLE_RATE).T + 1e-10)
    c = dct(mel, type=2, norm="ortho", axis=1)[:, :n_mfcc]
    d1 = np.gradient(c, axis=0) if n > 1 else np.zeros_like(c)
    d2 = np.gradient(d1, axis=0) if n > 1 else np.zeros_like(c)
    return np.concatenate([c, d1, d2], axis=1)


def _kmeans_units(
    train: np.ndarray, held: np.ndarray, config: PretrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """k-means units of every 20 ms frame of the two streams (fitted on the training stream)."""
    from sklearn.cluster import MiniBatchKMeans

    feats = mfcc(train)
    mean, std = feats.mean(0), feats.std(0) + 1e-8
    km = MiniBatchKMeans(
        n_clusters=config.n_clusters, random_state=config.seed, batch_size=4096, n_init=3, max_iter=50
    )
    km.fit(((feats - mean) / std)[:: max(1, len(feats) // 100_000)])
    held_feats = mfcc(held) if held.size else np.zeros((0, feats.shape[1]))
    units = km.predict((feats - mean) / std).astype(np.int64)
    held_units = (
        km.predict((held_feats - mean) / std).astype(np.int64) if len(held_feats) else np.zeros(0, np.int64)
    )
    return units, held_units


# --------------------------------------------------------------------------
# Model


def encoder_config(config: PretrainConfig):
    """The ``Wav2Vec2Config`` of the encoder a configuration pre-trains.

    wav2vec2-base's CNN (group norm, strides 5, 2, 2, 2, 2, 2, 2) and post-norm
    layers, at the configured width and depth; the built-in ``tiny``'s other
    settings (dropouts, positional convolution).

    Examples
    --------
    >>> cfg = encoder_config(PretrainConfig())
    >>> cfg.feat_extract_norm, cfg.conv_stride, cfg.num_hidden_layers
    ('group', (5, 2, 2, 2, 2, 2, 2), 4)
    """
    from emocirc.backbones import builtin_config

    cfg = builtin_config("tiny")
    cfg.hidden_size = config.hidden_size
    cfg.num_hidden_layers = config.num_layers
    cfg.num_attention_heads = config.num_heads
    cfg.intermediate_size = config.intermediate_size
    cfg.conv_dim = (config.conv_dim,) * len(cfg.conv_stride)
    cfg.num_feat_extract_layers = len(cfg.conv_dim)
    cfg.num_negatives = config.num_negatives
    cfg.num_codevector_groups = config.codevector_groups
    cfg.num_codevectors_per_group = config.codevectors_per_group
    cfg.codevector_dim = config.codevector_dim
    cfg.proj_codevector_dim = config.hidden_size
    cfg.diversity_loss_weight = config.diversity_weight
    # Pre-training passes its own mask indices; the saved encoder keeps tiny's
    # SpecAugment settings for fine-tuning, and no layer drop.
    cfg.layerdrop = 0.0
    cfg.architectures = ["Wav2Vec2Model"]
    return cfg


class _HubertObjective(nn.Module):
    """A ``Wav2Vec2Model`` with a linear head over k-means units, scored at masked frames."""

    def __init__(self, config, n_clusters: int) -> None:
        super().__init__()
        from transformers import Wav2Vec2Model

        self.wav2vec2 = Wav2Vec2Model(config)
        self.head = nn.Linear(config.hidden_size, n_clusters)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, units: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.wav2vec2(x, mask_time_indices=mask).last_hidden_state
        logits = self.head(hidden[mask])
        target = units[mask]
        loss = nn.functional.cross_entropy(logits, target)
        correct = (logits.argmax(-1) == target).float().mean()
        return loss, correct


def _build_model(config: PretrainConfig) -> nn.Module:
    from transformers import Wav2Vec2ForPreTraining

    cfg = encoder_config(config)
    for name in _DROPOUTS:
        setattr(cfg, name, config.dropout)
    torch.manual_seed(config.seed)
    if config.objective == "wav2vec2":
        return Wav2Vec2ForPreTraining(cfg)
    return _HubertObjective(cfg, config.n_clusters)


@contextlib.contextmanager
def _numpy_seeded(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (transformers' mask and negative samplers draw from it), then restore it."""
    state = np.random.get_state()  # noqa: NPY002 (transformers draws from the legacy global generator)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _step_seed(seed: int, step: int, salt: int = 0) -> int:
    digest = hashlib.blake2b(f"{seed}:{step}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 2**63


def _crop_frames(config: PretrainConfig) -> int:
    return max(2, conv_output_length(int(config.crop_seconds * SAMPLE_RATE), _WINDOW, _HOP))


def _masks(config: PretrainConfig, batch: int, frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from emocirc.compat import compute_mask_indices, sample_negative_indices

    with _numpy_seeded(seed):
        mask = compute_mask_indices((batch, frames), config.mask_prob, config.mask_length, min_masks=2)
        negatives = sample_negative_indices((batch, frames), config.num_negatives, mask)
    return mask, negatives


def _batch(
    stream: np.ndarray, units: np.ndarray | None, config: PretrainConfig, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` crops starting on the 20 ms frame grid (so MFCC units line up with the CNN's frames)."""
    frames = _crop_frames(config)
    samples = (frames - 1) * _HOP + _WINDOW
    last_start = (stream.size - samples) // _HOP
    if last_start < 0:
        raise EmocircError(
            f"pre-training corpus holds {stream.size / SAMPLE_RATE:.2f} s of audio in this split; "
            f"expected at least one crop of {config.crop_seconds} s"
        )
    starts = np.random.default_rng(seed).integers(0, last_start + 1, size=n)
    x = np.stack([stream[s * _HOP : s * _HOP + samples] for s in starts])
    u = None
    if units is not None:
        u = torch.from_numpy(np.stack([units[s : s + frames] for s in starts]))
    return torch.from_numpy(x), u


def _lr_factor(config: PretrainConfig) -> Callable[[int], float]:
    warm = max(1, int(config.warmup_fraction * config.steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (config.steps - step) / max(1, config.steps - warm))

    return factor


def _gumbel(config: PretrainConfig, step: int) -> float:
    frac = step / max(1, config.steps - 1)
    return config.gumbel_start * (config.gumbel_end / config.gumbel_start) ** frac


def _objective(
    model: nn.Module, config: PretrainConfig, x, units, mask, negatives
) -> tuple[torch.Tensor, dict]:
    """The loss of one batch and what the log reports about it (masked-prediction accuracy)."""
    mask_t = torch.from_numpy(mask)
    if config.objective == "hubert":
        loss, acc = model(x, mask_t, units)
        return loss, {"loss": float(loss.detach()), "accuracy": float(acc)}
    neg_t = torch.from_numpy(negatives).long()
    out = model(x, mask_time_indices=mask_t, sampled_negative_indices=neg_t)
    n_masked = int(mask_t.sum())
    loss = out.loss / n_masked
    with torch.no_grad():
        acc = _contrastive_accuracy(out, neg_t, mask_t)
        contrastive = float(out.contrastive_loss) / n_masked
        diversity = float(out.diversity_loss)
    return loss, {
        "loss": float(loss.detach()),
        "accuracy": acc,
        "contrastive": contrastive,
        "diversity": diversity,
    }


def _contrastive_accuracy(out, negatives: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of masked frames whose prediction is nearest (cosine) its own quantised target among the distractors."""
    pred, target = out.projected_states, out.projected_quantized_states
    b, t, d = target.shape
    neg = target.reshape(-1, d)[negatives.reshape(-1)].reshape(b, t, -1, d)
    candidates = torch.cat([target[:, :, None], neg], dim=2)
    sims = torch.cosine_similarity(pred[:, :, None].float(), candidates.float(), dim=-1)
    same = (neg == target[:, :, None]).all(-1)
    sims[:, :, 1:][same] = float("-inf")
    return float((sims.argmax(-1) == 0)[mask].float().mean())


# --------------------------------------------------------------------------
# The run


def _fsync_tree(path: Path) -> None:
    for item in sorted(path.rglob("*")):
        if item.is_file():
            with open(item, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    # One directory renamed into place whole, its files on disk before the
    # rename: a kill at any moment leaves the previous checkpoint or this one.
    with atomic_dir(out / _CHECKPOINT) as tmp:
        torch.save(state, tmp / "state.pt")
        _fsync_tree(tmp)


def _load_checkpoint(out: Path, run_hash: str) -> dict[str, Any] | None:
    ckpt = out / _CHECKPOINT
    recover_dir(ckpt, lambda p: (p / "state.pt").is_file())
    if not (ckpt / "state.pt").is_file():
        return None
    state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
    if state.get("run_hash") != run_hash:
        raise EmocircError(
            f"{out}: holds a checkpoint of a different pre-training run (configuration or corpus changed); "
            "expected the same settings, or a new --out"
        )
    return state


def _finished(out: Path, run_hash: str) -> bool:
    metrics = out / "metrics.json"
    if not metrics.is_file():
        return False
    try:
        return (
            json.loads(metrics.read_text()).get("run_hash") == run_hash
            and (out / "model.safetensors").is_file()
        )
    except (OSError, ValueError):
        return False


def _write_log(out: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(out / "log.jsonl", suffix=".jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_pretrain_log(run: str | os.PathLike[str]):
    """The loss log of a pre-training run as a DataFrame (one row per held-out evaluation)."""
    import pandas as pd

    path = Path(run) / "log.jsonl"
    if not path.is_file():
        raise EmocircError(f"{run}: no log.jsonl; expected a directory written by emocirc pretrain")
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def _evaluate(model: nn.Module, config: PretrainConfig, held: dict[str, Any]) -> dict[str, float]:
    """Held-out loss and masked-prediction accuracy on the fixed held-out crops (eval mode: no dropout, hard codes)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, stats = _objective(model, config, held["x"], held["units"], held["mask"], held["negatives"])
    finally:
        model.train(was_training)
    return {"held_out_loss": stats["loss"], "held_out_accuracy": stats["accuracy"]}


def _publish_encoder(model: nn.Module, out: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    from emocirc.backbones import builtin_config, quiet_loading

    encoder = model.wav2vec2
    saved = builtin_config("tiny")
    for name in _DROPOUTS:
        setattr(encoder.config, name, getattr(saved, name))
    staging = out / ".encoder.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with quiet_loading():
        encoder.save_pretrained(staging, safe_serialization=True)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SAMPLE_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=False,
    ).save_pretrained(staging)
    _fsync_tree(staging)
    for item in sorted(staging.iterdir()):
        os.replace(item, out / item.name)
    shutil.rmtree(staging, ignore_errors=True)


def pretrain(
    corpus: str | os.PathLike[str],
    config: PretrainConfig,
    out: str | os.PathLike[str],
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    on_step_end: Callable[[int], None] | None = None,
) -> Path:
    """Pre-train an encoder on every WAV file under ``corpus``; write a Hugging Face checkpoint to ``out``.

    Rerunning with the same corpus and configuration resumes from the last
    checkpoint, or returns at once if the run is complete.

    Parameters
    ----------
    corpus:
        A folder of 16 kHz mono WAV files (searched recursively).
    config:
        The run's settings.
    out:
        The run directory (created).
    progress:
        Show a tqdm progress bar over the steps.
    log:
        Called with one line per event (resume, evaluation rows).
    on_step_end:
        Called with the number of completed steps after each step (tests).

    Returns
    -------
    pathlib.Path
        ``out``, loadable by :func:`emocirc.backbones.load_backbone` and
        ``transformers.AutoModel.from_pretrained``.

    Examples
    --------
    >>> import tempfile
    >>> from emocirc.synth import ensure_corpus
    >>> corpus = ensure_corpus("iemocap", scale=0.05, cache_dir=tempfile.mkdtemp())
    >>> cfg = PretrainConfig(steps=2, batch_size=2, eval_every=1, eval_crops=2, n_clusters=8)
    >>> run = pretrain(corpus, cfg, tempfile.mkdtemp(), progress=False)
    >>> sorted(p.name for p in run.iterdir() if p.suffix in (".json", ".safetensors"))
    ['config.json', 'metrics.json', 'model.safetensors', 'preprocessor_config.json', 'pretrain_config.json']
    """
    from emocirc.features import resolve_device

    say = log or (lambda _line: None)
    root = Path(corpus).expanduser()
    out = Path(out).expanduser()
    files = corpus_files(root)
    run_hash = hashlib.blake2b(
        json.dumps(
            {"config": config.hash(), "corpus": corpus_fingerprint(root), "version": PRETRAIN_VERSION},
            sort_keys=True,
        ).encode(),
        digest_size=8,
    ).hexdigest()
    if _finished(out, run_hash):
        say(f"pre-training run {out} is complete; reusing it")
        return out
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)

    train_files, held_files = _split_files(root, files, config.held_out_fraction)
    train = _stream(train_files)
    held_stream = _stream(held_files) if held_files else train
    units = held_units = None
    if config.objective == "hubert":
        units, held_units = _kmeans_units(train, held_stream, config)
    frames = _crop_frames(config)
    hx, hu = _batch(held_stream, held_units, config, config.eval_crops, _step_seed(config.seed, -1, 1))
    hmask, hneg = _masks(config, config.eval_crops, frames, _step_seed(config.seed, -1, 2))
    held = {
        "x": hx.to(device),
        "units": None if hu is None else hu.to(device),
        "mask": hmask,
        "negatives": hneg,
    }

    model = _build_model(config).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "codevectors" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "codevectors" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config))
    rows: list[dict[str, Any]] = []
    step = 0
    state = _load_checkpoint(out, run_hash)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rows, step = state["rows"], int(state["step"])
        say(f"resuming {out} after step {step}")
    write_json(
        out / "pretrain_config.json", {**config.to_dict(), "run_hash": run_hash, "version": PRETRAIN_VERSION}
    )
    if step == 0:
        rows = [{"step": 0, "train_loss": None, **_evaluate(model, config, held), "seconds": 0.0}]
        say(_row_line(rows[-1]))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=step, desc="pre-training", unit="step")
    model.train()
    losses: list[float] = []
    accs: list[float] = []
    started = time.perf_counter()
    while step < config.steps:
        seed = _step_seed(config.seed, step)
        x, u = _batch(train, units, config, config.batch_size, seed)
        mask, negatives = _masks(config, config.batch_size, frames, seed + 1)
        torch.manual_seed(seed)
        if config.objective == "wav2vec2":
            model.set_gumbel_temperature(_gumbel(config, step))
        loss, stats = _objective(
            model, config, x.to(device), None if u is None else u.to(device), mask, negatives
        )
        if not torch.isfinite(loss):
            raise EmocircError(
                f"pre-training loss became {float(loss)} at step {step + 1}; expected a finite loss (lower --lr)"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        step += 1
        losses.append(stats["loss"])
        accs.append(stats["accuracy"])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}")
        if step % config.eval_every == 0 or step == config.steps:
            rows.append(
                {
                    "step": step,
                    "train_loss": float(np.mean(losses)),
                    "train_accuracy": float(np.mean(accs)),
                    **_evaluate(model, config, held),
                    "lr": float(scheduler.get_last_lr()[0]),
                    "seconds": time.perf_counter() - started,
                }
            )
            losses, accs = [], []
            say(_row_line(rows[-1]))
        if step % config.checkpoint_every == 0 and step < config.steps:
            _save_checkpoint(
                out,
                {
                    "run_hash": run_hash,
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rows": rows,
                },
            )
            _write_log(out, rows)
        if on_step_end is not None:
            on_step_end(step)
    if bar is not None:
        bar.close()
    model.cpu()
    _write_log(out, rows)
    _publish_encoder(model, out)
    first, last = rows[0], rows[-1]
    write_json(
        out / "metrics.json",
        {
            "run_hash": run_hash,
            "objective": config.objective,
            "steps": config.steps,
            "train_files": len(train_files),
            "held_out_files": len(held_files),
            "train_seconds_of_audio": train.size / SAMPLE_RATE,
            "random_init": {
                "held_out_loss": first["held_out_loss"],
                "held_out_accuracy": first["held_out_accuracy"],
            },
            "final": {"held_out_loss": last["held_out_loss"], "held_out_accuracy": last["held_out_accuracy"]},
        },
    )
    shutil.rmtree(out / _CHECKPOINT, ignore_errors=True)
    for item in out.iterdir():
        if item.name.startswith((f".{_CHECKPOINT}.", ".encoder.", ".log.jsonl.", ".metrics.json.")):
            shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)
    return out


def _row_line(row: dict[str, Any]) -> str:
    train = "" if row["train_loss"] is None else f"train loss {row['train_loss']:.4f}  "
    return (
        f"step {row['step']}: {train}held-out loss {row['held_out_loss']:.4f}  "
        f"masked-prediction accuracy {row['held_out_accuracy']:.3f}"
    )
