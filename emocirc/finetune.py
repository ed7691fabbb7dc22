"""Fine-tuning a wav2vec2-family encoder for four emotions: the seed's recipe, resumable.

The recipe is SpeechBrain's IEMOCAP one (``train_with_wav2vec2.yaml``), which
the seed followed: the encoder from :func:`emocirc.backbones.load_backbone`,
mean pooling over the valid frames of the last hidden layer, a linear head
without bias, log-softmax and negative log-likelihood; two Adam optimisers
(encoder 1e-5, head 1e-4) each annealed by NewBob on the validation error
(factor 0.9, improvement threshold 0.0025); batches of 4; gradient clipping;
the checkpoint with the lowest validation error is the one kept.  Every knob
is a field of :class:`FinetuneConfig`.

A finished run is a directory that every other step can load::

    OUT/config.json, OUT/model.safetensors,   the encoder, Hugging Face format
    OUT/preprocessor_config.json               (load_backbone(OUT), AutoModel)
    OUT/head.safetensors                       the linear head ("weight": C x D)
    OUT/label_map.json                         label -> output index
    OUT/training_config.json                   the configuration and the data
    OUT/log.csv                                one row per epoch
    OUT/metrics.json                           written last: the run is complete

While it trains, ``OUT/checkpoint/`` holds the last completed epoch (model,
optimisers, schedulers, random state, log, best weights), replaced atomically
after every epoch; running the same call again resumes from it and ends with
the same metrics as an uninterrupted run.  The random state of each epoch is
derived from ``(seed, epoch)``, so resuming at an epoch boundary reproduces
the data order and dropout masks exactly.

The loop runs through Hugging Face ``accelerate``: on one CPU it is plain
deterministic PyTorch; on GPUs it uses bf16 autocast and fused Adam, and under
``accelerate launch -m emocirc finetune ...`` it runs distributed data
parallel: ``batch_size`` is per process, each step's global batch of
``batch_size x processes`` utterances is split over the processes (so 2
processes at batch 2 take the steps of 1 process at batch 4, up to padding
and dropout), the gradients are averaged, every process evaluates its share
of the validation batches (the same batches as one process: same metrics),
and the main process writes the checkpoints and the run
(``tests/test_distributed.py``).

Speed without changing the recipe: a frozen CNN runs through
:func:`emocirc.fast_forward.feature_encoder` (same result, no autograd record);
on CUDA the encoder's positional convolution is an FFT convolution with
gradients; the transformer layers run without Hugging Face's mask
handling (:func:`emocirc.fast_forward.run_encoder`), so attention keeps SDPA's
fused kernels; on one GPU ``cuda_graphs`` replays each step from a CUDA
graph (:class:`TrainStep`), which pays off when batch shapes repeat
(``pad_multiple``), and ``compile`` compiles the layers for training
(:meth:`EmotionClassifier.compiled_layers`).  Measurements:
``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from emocirc import __version__
from emocirc._io import (
    atomic_dir,
    atomic_path,
    default_cache_dir,
    fsync_tree,
    recover_dir,
    write_json,
    write_text,
)
from emocirc.audio import SAMPLE_RATE, load_audio
from emocirc.backbones import PRETRAINED_BUILTINS, pretrained_key
from emocirc.compat import compiled_call, is_plain_wav2vec2_model, set_compiled_call
from emocirc.errors import EmocircError
from emocirc.fast_forward import (
    current_tuning,
    derived,
    fast_pos_conv,
    feature_encoder,
    normalize_signals,
    run_encoder,
)
from emocirc.features import resolve_device
from emocirc.finetune_config import MODES, FinetuneConfig, _digest  # noqa: F401 (MODES re-exported)
from emocirc.frames import frame_counts
from emocirc.labels import to_four_class
from emocirc.metrics import classification_summary
from emocirc.splits import PROTOCOLS, Split, folds  # noqa: F401 (PROTOCOLS re-exported)

_CHECKPOINT = "checkpoint"
#: Bumped whenever training computes differently, so finished runs of older code are not reused.
_TRAINING_VERSION = "train-2"  # 2: frozen CNN through emocirc.features, FFT positional convolution on CUDA


# --------------------------------------------------------------------------- model


class EmotionClassifier(nn.Module):
    """Encoder + mean pooling over valid frames + linear head without bias.

    ``forward(waveforms, lengths)`` returns log-probabilities (``B x C``);
    :meth:`pool` returns the pooled last hidden state (``B x D``).

    Parameters
    ----------
    encoder:
        A wav2vec2-family model (``Backbone.model``).
    labels:
        Class names in output order.
    do_normalize:
        Normalise each utterance to zero mean, unit variance before the encoder.

    Examples
    --------
    >>> import torch
    >>> from emocirc.backbones import load_backbone
    >>> bb = load_backbone("tiny")
    >>> clf = EmotionClassifier(bb.model, ["anger", "sadness"], bb.do_normalize)
    >>> wavs = torch.randn(2, 16000)
    >>> clf(wavs, torch.tensor([16000, 8000])).shape
    torch.Size([2, 2])
    """

    def __init__(self, encoder: nn.Module, labels: Sequence[str], do_normalize: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.labels = list(labels)
        self.do_normalize = do_normalize
        self.head = nn.Linear(int(encoder.config.hidden_size), len(self.labels), bias=False)
        #: Run a frozen CNN with :func:`emocirc.fast_forward.feature_encoder` (same result, faster).
        self.fast_cnn = True
        #: In training, run each transformer layer through ``torch.compile`` (see :meth:`compiled_layers`).
        self.compile_layers = False
        #: Arguments of ``torch.compile`` for the layers (``mode="reduce-overhead"`` without TrainStep's graphs).
        self.compile_options: dict[str, Any] = {"dynamic": None}
        self._layer_calls: tuple[dict[str, Any], list[Callable[..., Any]]] | None = None

    def pool(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean of the last hidden state over each utterance's valid frames."""
        lengths = lengths.to(waveforms.device)
        if self.do_normalize:
            waveforms = normalize_signals(waveforms, lengths)
        # Layer-norm encoders (wav2vec2-large-robust, WavLM) take an attention
        # mask; group-norm ones (wav2vec2-base) must not get one (model card):
        # they see the zero padding, as in SpeechBrain's recipe.
        mask = None
        if getattr(self.encoder.config, "feat_extract_norm", "group") == "layer":
            steps = torch.arange(waveforms.shape[1], device=waveforms.device)
            mask = (steps[None, :] < lengths[:, None]).long()
        with self.compiled_layers(self.training and self.compile_layers):
            if mask is None and self._fast_cnn_usable():
                hidden = self._encode_fast(waveforms)
            else:
                hidden = self.encoder(waveforms, attention_mask=mask).last_hidden_state
        frames = frame_counts(self.encoder, lengths, add_adapter=None).clamp(min=1, max=hidden.shape[1])
        valid = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
        valid = valid.to(hidden.dtype).unsqueeze(-1)
        return (hidden * valid).sum(dim=1) / frames.to(hidden.dtype).unsqueeze(-1)

    @contextlib.contextmanager
    def compiled_layers(self, enabled: bool = True) -> Iterator[None]:
        """Run the encoder's transformer layers through ``torch.compile`` inside this block.

        Regional compilation: the layers are identical, so one compiled graph
        serves all of them (plus one more, with a dynamic time axis, once a
        second length is seen).  Inductor fuses the element-wise work around
        the matrix products (layer norms, dropout, GELU, residuals, casts) in
        forward and backward; the kernels it makes can be captured in
        :class:`TrainStep`'s CUDA graphs.  The first call of each kind
        compiles (tens of seconds); evaluation, with its many lengths, stays
        eager because :meth:`pool` enables this in training only.
        """
        layers = getattr(getattr(self.encoder, "encoder", None), "layers", None)
        if not enabled or layers is None or len(layers) == 0:
            yield
            return
        if self._layer_calls is None or self._layer_calls[0] != self.compile_options:
            calls = []
            for layer in layers:
                layer.compile(**self.compile_options)
                # Module.compile keeps the compiled call here; it is switched on only inside this block.
                calls.append(compiled_call(layer))
                set_compiled_call(layer, None)
            self._layer_calls = (dict(self.compile_options), calls)
        for layer, call in zip(layers, self._layer_calls[1], strict=True):
            set_compiled_call(layer, call)
        try:
            yield
        finally:
            for layer in layers:
                set_compiled_call(layer, None)

    def _fast_cnn_usable(self) -> bool:
        """Whether the CNN needs no gradient here, and the model is one whose forward :meth:`_encode_fast` repeats."""
        config = self.encoder.config
        frozen = not torch.is_grad_enabled() or not any(
            p.requires_grad for p in self.encoder.feature_extractor.parameters()
        )
        return (
            self.fast_cnn
            and frozen
            and is_plain_wav2vec2_model(self.encoder)
            and not getattr(config, "add_adapter", False)
            and not (self.training and getattr(config, "apply_spec_augment", False))
        )

    def _encode_fast(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The encoder's forward with its frozen CNN run by :func:`emocirc.fast_forward.feature_encoder`.

        Same result as the model's own forward (the group norm sees the zero
        padding here too, as in the recipe), computed as a few large matrix
        products with the first group norm from the signal's second moments,
        in the autocast dtype, with no autograd record.
        """
        fe = self.encoder.feature_extractor
        dtype = (
            torch.get_autocast_dtype(waveforms.device.type)
            if torch.is_autocast_enabled(waveforms.device.type)
            else fe.conv_layers[0].conv.weight.dtype
        )
        cnn = _frozen_copy(fe, dtype)
        batch, width = waveforms.shape
        with torch.no_grad(), torch.autocast(device_type=waveforms.device.type, enabled=False):
            full = torch.full((batch,), width, device=waveforms.device, dtype=torch.long)
            feats, _ = feature_encoder(cnn, waveforms.float(), full, padded=False)
            feats = feats[:, : frame_counts(self.encoder, width)]
        projected = self.encoder.feature_projection(feats)
        hidden = projected[0] if isinstance(projected, tuple) else projected
        # The positional convolution (kernel 128, 16 groups) as an FFT convolution with gradients.
        with fast_pos_conv(self.encoder.encoder, training_uses_fft(waveforms.device), trainable=True):
            return run_encoder(self.encoder.encoder, hidden, None)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(self.pool(waveforms, lengths)).float(), dim=-1)


def training_uses_fft(device: torch.device | str) -> bool:
    """Whether training computes the positional convolution by FFT on ``device`` (``Tuning.pos_conv``).

    ``"auto"`` means on CUDA only: there cuDNN's grouped convolution took more
    than half of a training step on an H100.
    """
    mode = current_tuning().pos_conv
    return mode == "fft" or (mode == "auto" and torch.device(device).type == "cuda")


def _frozen_copy(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of ``module`` in ``dtype`` (the module itself if already so), remade when its weights change."""
    if next(module.parameters()).dtype == dtype:
        return module
    import copy

    def make() -> nn.Module:
        clone = copy.deepcopy(module).to(dtype)
        clone.requires_grad_(False)
        return clone

    return derived(module, f"copy-{dtype}", make)


def check_run(checkpoint: str | os.PathLike[str]) -> Path:
    """``checkpoint`` as a path, if it is a finished fine-tuning run (else a one-line error)."""
    path = Path(checkpoint)
    if not (path / "head.safetensors").is_file() or not (path / "label_map.json").is_file():
        raise EmocircError(
            f"{path}: not a finished fine-tuning run (expected head.safetensors and label_map.json)"
        )
    return path


def load_classifier(checkpoint: str | os.PathLike[str], device: str = "cpu") -> EmotionClassifier:
    """Load a fine-tuned run directory (encoder + head + label map) in eval mode.

    Examples
    --------
    >>> load_classifier("/nonexistent")
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: /nonexistent: not a finished fine-tuning run (expected head.safetensors and label_map.json)
    """
    from safetensors.torch import load_file

    from emocirc.backbones import load_backbone

    path = check_run(checkpoint)
    label_map = json.loads((path / "label_map.json").read_text())
    labels = [lab for lab, _ in sorted(label_map.items(), key=lambda kv: kv[1])]
    backbone = load_backbone(path, device=device)
    model = EmotionClassifier(backbone.model, labels, backbone.do_normalize)
    weight = load_file(str(path / "head.safetensors"))["weight"]
    if tuple(weight.shape) != tuple(model.head.weight.shape):
        raise EmocircError(
            f"{path / 'head.safetensors'}: head of shape {tuple(weight.shape)}, "
            f"expected {tuple(model.head.weight.shape)} for {len(labels)} labels"
        )
    with torch.no_grad():
        model.head.weight.copy_(weight)
    return model.to(device).eval()


# --------------------------------------------------------------------------- scheduling


class NewBob:
    """SpeechBrain's NewBob annealing of one learning rate on a validation metric.

    Examples
    --------
    >>> nb = NewBob(1.0, factor=0.5, threshold=0.1)
    >>> [nb.step(e) for e in (0.50, 0.40, 0.39, 0.38)]
    [1.0, 1.0, 0.5, 0.25]
    """

    def __init__(self, value: float, factor: float = 0.9, threshold: float = 0.0025, patience: int = 0):
        self.value = float(value)
        self.factor = factor
        self.threshold = threshold
        self.patience = patience
        self.current_patience = patience
        self.history: list[float] = []

    def step(self, metric: float) -> float:
        """Record this epoch's metric (lower is better); return the next learning rate."""
        if self.history:
            previous = self.history[-1]
            improvement = 0.0 if previous == 0 else (previous - metric) / previous
            if improvement < self.threshold:
                if self.current_patience == 0:
                    self.value *= self.factor
                    self.current_patience = self.patience
                else:
                    self.current_patience -= 1
        self.history.append(float(metric))
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "current_patience": self.current_patience, "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self.current_patience = int(state["current_patience"])
        self.history = [float(v) for v in state["history"]]


# --------------------------------------------------------------------------- data


def prepare_table(df: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Keep the utterances whose label maps onto ``labels`` (directly or via the four-class map).

    The result has a fresh positional index and its ``label`` column holds the
    mapped class names.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b", "c"], "label": ["excitement", "fear", "anger"]})
    >>> prepare_table(df, ["anger", "happiness", "sadness", "neutral"])["label"].tolist()
    ['happiness', 'anger']
    """
    if "label" not in df.columns:
        raise EmocircError(
            "corpus table has no 'label' column: expected a table from emocirc.corpora.load_corpus"
        )
    wanted = set(labels)

    def mapped(label: str) -> str | None:
        if label in wanted:
            return label
        four = to_four_class(label)
        return four if four in wanted else None

    out = df.copy()
    out["label"] = [mapped(lab) for lab in out["label"]]
    out = out[out["label"].notna()].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


def _batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket: bool
) -> list[np.ndarray]:
    """Shuffled batches; with ``bucket``, of utterances of similar length."""
    order = rng.permutation(len(lengths))
    if bucket:
        # Sort within pools of 50 batches: little padding, yet a new mix every epoch.
        pool = batch_size * 50
        order = np.concatenate(
            [
                chunk[np.argsort(lengths[chunk], kind="stable")]
                for chunk in np.array_split(order, max(1, math.ceil(len(order) / pool)))
            ]
        )
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _collate(
    waves: Sequence[np.ndarray], rng: np.random.Generator | None, crop: int | None, multiple: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    pieces = []
    for wav in waves:
        if crop is not None and rng is not None and len(wav) > crop:
            start = int(rng.integers(0, len(wav) - crop + 1))
            wav = wav[start : start + crop]
        pieces.append(wav)
    lengths = np.array([len(w) for w in pieces])
    width = int(lengths.max())
    if multiple > 0:
        width = -(-width // multiple) * multiple
    batch = np.zeros((len(pieces), width), dtype=np.float32)
    for i, wav in enumerate(pieces):
        batch[i, : len(wav)] = wav
    return torch.from_numpy(batch), torch.from_numpy(lengths)


# --------------------------------------------------------------------------- training


class TrainStep:
    """One optimisation step of the recipe, optionally replayed from CUDA graphs.

    A step is: forward under autocast, NLL on the log-probabilities,
    gradients, global-norm clipping, and a step of each Adam optimiser.  At
    the recipe's batch of 4 a GPU step is a few hundred small kernels, and
    launching them from Python takes longer than running them.  With
    ``graphs`` (CUDA, one process) each batch shape is run eagerly twice
    (real steps, on a side stream, which also warms cuBLAS and the
    optimisers' state), then captured once as a CUDA graph of the whole step
    and replayed for every later batch of that shape: inputs are copied into
    the graph's own tensors and one launch runs the step.  Batches of a
    shape not captured (more than ``max_graphs`` shapes) run eagerly.  The
    optimisers must be built with ``capturable=True``; call
    :meth:`learning_rates_changed` after changing a learning rate (the rates
    are constants of a captured graph, so the graphs are captured again).
    Losses stay on the device; :meth:`mean_loss` reads them once.

    Parameters
    ----------
    model:
        Maps ``(waveforms, lengths)`` to log-probabilities.
    optimizers:
        Stepped in order after clipping.
    max_grad_norm:
        Global L2 norm the gradients are clipped to.
    autocast_dtype:
        ``torch.bfloat16``/``torch.float16`` for mixed precision, ``None`` for none.
    backward, clip:
        How to back-propagate and clip in the eager path (an Accelerator's
        ``backward`` and ``clip_grad_norm_`` under ``accelerate``).
    graphs:
        Capture and replay CUDA graphs (requires a CUDA model and no fp16 loss scaling).

    Examples
    --------
    >>> import torch
    >>> from emocirc.backbones import load_backbone
    >>> clf = EmotionClassifier(load_backbone("tiny").model, ["anger", "sadness"], True)
    >>> step = TrainStep(clf, [torch.optim.Adam(clf.parameters(), lr=1e-3)], max_grad_norm=5.0)
    >>> step(torch.randn(2, 16000), torch.tensor([16000, 12000]), torch.tensor([0, 1]))
    >>> loss = step.mean_loss()
    >>> 0 < loss < 10
    True
    """

    def __init__(
        self,
        model: nn.Module,
        optimizers: Sequence[torch.optim.Optimizer],
        max_grad_norm: float,
        autocast_dtype: torch.dtype | None = None,
        *,
        backward: Callable[[torch.Tensor], None] | None = None,
        clip: Callable[[Any, float], Any] | None = None,
        graphs: bool = False,
        max_graphs: int = 16,
        warmup: int = 2,
    ) -> None:
        self.model = model
        self.optimizers = list(optimizers)
        self.max_grad_norm = max_grad_norm
        self.autocast_dtype = autocast_dtype
        self._backward = backward or (lambda loss: loss.backward())
        self._clip = clip or torch.nn.utils.clip_grad_norm_
        self.graphs = graphs
        self.max_graphs = max_graphs
        self.warmup = warmup
        self._params = [p for p in model.parameters() if p.requires_grad]
        self._seen: dict[tuple, int] = {}
        self._captured: dict[tuple, tuple[Any, ...]] = {}
        self._losses: list[torch.Tensor] = []
        self._stream = None

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return torch.autocast(device_type=device.type, enabled=False)
        # Cached casts must not outlive a graph capture.
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype, cache_enabled=False)

    def _eager(
        self, wav: torch.Tensor, lens: torch.Tensor, target: torch.Tensor, graph_safe: bool
    ) -> torch.Tensor:
        with self._autocast(wav.device):
            logp = self.model(wav, lens)
        loss = nn.functional.nll_loss(logp.float(), target)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        if graph_safe:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._params, self.max_grad_norm, foreach=True)
        else:
            self._backward(loss)
            self._clip(self.model.parameters(), self.max_grad_norm)
        for opt in self.optimizers:
            opt.step()
        return loss.detach()

    def __call__(self, wav: torch.Tensor, lens: torch.Tensor, target: torch.Tensor) -> None:
        """Run one step on host or device tensors (moved to the model's device)."""
        device = self._params[0].device if self._params else wav.device
        if not (self.graphs and device.type == "cuda"):
            wav, lens, target = (t.to(device, non_blocking=True) for t in (wav, lens, target))
            loss = self._eager(wav, lens, target, graph_safe=False)
            self._losses.append(loss)
            return
        shape = (tuple(wav.shape), str(wav.dtype))
        captured = self._captured.get(shape)
        if captured is None:
            seen = self._seen[shape] = self._seen.get(shape, 0) + 1
            if seen <= self.warmup or len(self._captured) >= self.max_graphs:
                self._losses.append(self._side_stream_step(wav, lens, target, device))
                return
            captured = self._captured[shape] = self._capture(wav, lens, target, device)
        graph, s_wav, s_lens, s_target, s_loss = captured
        s_wav.copy_(wav, non_blocking=True)
        s_lens.copy_(lens, non_blocking=True)
        s_target.copy_(target, non_blocking=True)
        graph.replay()
        self._losses.append(s_loss.clone())

    def _side_stream_step(self, wav, lens, target, device) -> torch.Tensor:
        if self._stream is None:
            self._stream = torch.cuda.Stream(device)
        self._stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(self._stream):
            wav, lens, target = (t.to(device, non_blocking=True) for t in (wav, lens, target))
            loss = self._eager(wav, lens, target, graph_safe=True)
        main = torch.cuda.current_stream(device)
        main.wait_stream(self._stream)
        loss.record_stream(main)  # read later on the main stream
        return loss

    def _capture(self, wav, lens, target, device) -> tuple[Any, ...]:
        s_wav, s_lens, s_target = (t.to(device, non_blocking=True).clone() for t in (wav, lens, target))
        graph = torch.cuda.CUDAGraph()
        for opt in self.optimizers:
            # Gradients made inside the capture live in the graph's memory pool.
            opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            with self._autocast(device):
                logp = self.model(s_wav, s_lens)
            loss = nn.functional.nll_loss(logp.float(), s_target)
            loss.backward()
            # Keep no reference to the autograd graph: its nodes belong to the capture's stream.
            s_loss = loss.detach()
            del loss, logp
            torch.nn.utils.clip_grad_norm_(self._params, self.max_grad_norm, foreach=True)
            for opt in self.optimizers:
                opt.step()
        return graph, s_wav, s_lens, s_target, s_loss

    def learning_rates_changed(self) -> None:
        """Drop the captured graphs: they hold the learning rates they were captured with."""
        self._captured.clear()

    @property
    def num_graphs(self) -> int:
        """How many batch shapes are being replayed from a CUDA graph."""
        return len(self._captured)

    def mean_loss(self, reset: bool = True) -> float:
        """Mean training loss since the last reset (one device read)."""
        if not self._losses:
            return float("nan")
        value = float(torch.stack([loss.float() for loss in self._losses]).mean())
        if reset:
            self._losses = []
        return value


def _resolve_device(device: str) -> str:
    """:func:`emocirc.features.resolve_device` as a string (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""
    return str(resolve_device(device))


def data_fingerprint(df: pd.DataFrame) -> str:
    """Hash of a corpus table's utterances (ids, labels, speakers, file sizes); 16 hex characters.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a"], "label": ["anger"], "speaker": ["1F"], "path": ["/no/file.wav"]})
    >>> len(data_fingerprint(df))
    16
    """
    rows = []
    for row in df.itertuples(index=False):
        path = getattr(row, "path", "")
        size = os.path.getsize(path) if path and os.path.exists(path) else -1
        rows.append([str(row.id), str(row.label), str(getattr(row, "speaker", "")), size])
    return _digest(json.dumps(rows))


def _select_splits(df: pd.DataFrame, config: FinetuneConfig) -> list[Split]:
    splits = list(folds(df, config.protocol, seed=config.seed))
    if config.fold == "all":
        return splits
    if isinstance(config.fold, int):
        if not 0 <= config.fold < len(splits):
            raise EmocircError(
                f"fold {config.fold}: protocol {config.protocol} has {len(splits)} folds "
                f"(expected 0..{len(splits) - 1} or 'all')"
            )
        return [splits[config.fold]]
    named = [s for s in splits if s.name == config.fold]
    if not named:
        raise EmocircError(
            f"fold {config.fold!r}: expected an index, 'all' or one of {', '.join(s.name for s in splits)}"
        )
    return named


def finetune(
    df: pd.DataFrame,
    config: FinetuneConfig,
    out: str | os.PathLike[str],
    split: Split | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> Path:
    """Fine-tune ``config.backbone`` on a corpus table; write (or resume) the run in ``out``.

    Parameters
    ----------
    df:
        Corpus table (:func:`emocirc.corpora.load_corpus`); restricted to
        ``config.labels`` with :func:`prepare_table`.
    config:
        Every hyper-parameter.
    out:
        Run directory. With ``config.fold == "all"`` each fold goes to
        ``out/<fold name>/`` and ``out/summary.json`` holds the mean and
        standard deviation of the test metrics.
    split:
        A partition given by hand (indices into the table after
        :func:`prepare_table`); default: :func:`emocirc.splits.folds` of
        ``config.protocol`` and ``config.fold``.
    progress:
        Show a progress bar over the batches of each epoch.
    log:
        Called with one line per epoch (e.g. ``print``).
    on_epoch_end:
        Called with ``(epoch, row)`` after each epoch's checkpoint is saved.

    Returns
    -------
    pathlib.Path
        ``out``. A finished run with the same configuration and data is returned
        as is; an unfinished one is resumed from its last completed epoch.
    """
    out = Path(out)
    table = prepare_table(df, config.labels)
    if split is not None:
        return _finetune_split(table, config, split, out, progress, log, on_epoch_end)
    splits = _select_splits(table, config)
    if config.fold != "all":
        return _finetune_split(table, config, splits[0], out, progress, log, on_epoch_end)
    results = {}
    for sp in splits:
        run = _finetune_split(table, config, sp, out / sp.name, progress, log, on_epoch_end)
        results[sp.name] = json.loads((run / "metrics.json").read_text())["test"]
    write_json(out / "summary.json", summarize_folds(results, config))
    return out


def summarize_folds(
    results: dict[str, dict[str, Any]], config: FinetuneConfig | None = None
) -> dict[str, Any]:
    """Mean and standard deviation over folds of test WA, UA and macro-F1.

    Examples
    --------
    >>> s = summarize_folds({"a": {"weighted_accuracy": 0.5, "unweighted_recall": 0.4, "macro_f1": 0.3},
    ...                      "b": {"weighted_accuracy": 0.7, "unweighted_recall": 0.6, "macro_f1": 0.5}})
    >>> s["mean"]["weighted_accuracy"], round(s["std"]["weighted_accuracy"], 3)
    (0.6, 0.1)
    """
    keys = ("weighted_accuracy", "unweighted_recall", "macro_f1")
    table = {k: [float(r[k]) for r in results.values()] for k in keys}
    return {
        "protocol": config.protocol if config else None,
        "folds": list(results),
        "per_fold": {name: {k: float(r[k]) for k in keys} for name, r in results.items()},
        "mean": {k: float(np.mean(v)) for k, v in table.items()},
        "std": {k: float(np.std(v)) for k, v in table.items()},
    }


def finetune_cached(
    corpus_root: str | os.PathLike[str] | None,
    config: FinetuneConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    format: str = "auto",
    *,
    scale: float = 1.0,
    skip_bad: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Fine-tune once per (data, configuration); later calls return the finished run.

    Runs live in ``<cache>/runs/<hash>/`` with ``<cache>`` = ``cache_dir`` or
    :func:`emocirc._io.default_cache_dir`. An interrupted run is resumed.

    Parameters
    ----------
    corpus_root:
        Corpus directory read by :func:`emocirc.corpora.load_corpus`; ``None``
        means the embedded synthetic IEMOCAP (:func:`emocirc.synth.ensure_corpus`).
    config:
        The run's hyper-parameters.
    format:
        Corpus layout (``auto``, ``iemocap``, ``emodb``, ``csv``).
    scale:
        Size of the synthetic corpus when ``corpus_root`` is ``None``.
    skip_bad:
        Leave out damaged audio files (recorded in the run's
        ``training_config.json``) instead of stopping, naming them.
    """
    from emocirc.corpora import load_corpus

    if corpus_root is None:
        from emocirc.synth import ensure_corpus

        corpus_root = ensure_corpus("iemocap", seed=config.seed, scale=scale, cache_dir=cache_dir)
    df = load_corpus(corpus_root, format=format, four_class=True, skip_bad=skip_bad)
    key = _digest(config.hash() + data_fingerprint(prepare_table(df, config.labels)) + _TRAINING_VERSION)
    if config.backbone in PRETRAINED_BUILTINS:
        # A pre-trained built-in is named, not hashed, by the configuration: its weights' key joins the run's.
        key = _digest(key + pretrained_key(config.backbone))
    out = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return finetune(df, config, out / "runs" / key, progress=progress, log=log)


def _run_is_finished(out: Path, run_hash: str) -> bool:
    if not (out / "metrics.json").is_file():
        return False
    try:
        done = json.loads((out / "training_config.json").read_text())["run_hash"]
    except (OSError, ValueError, KeyError):
        return False
    if done != run_hash:
        raise EmocircError(
            f"{out} holds a finished run of another configuration or data (run hash {done}, expected "
            f"{run_hash}): choose another --out or delete it"
        )
    return True


def _finetune_split(
    table: pd.DataFrame,
    config: FinetuneConfig,
    split: Split,
    out: Path,
    progress: bool,
    log: Callable[[str], None] | None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None,
) -> Path:
    from accelerate import Accelerator
    from accelerate.utils import AutocastKwargs, DistributedDataParallelKwargs

    # Under `accelerate launch` one process speaks (RANK is set before any process group exists).
    say = log if log is not None and int(os.environ.get("RANK", "0")) == 0 else (lambda _msg: None)
    parts = {name: np.asarray(getattr(split, name), dtype=np.int64) for name in ("train", "valid", "test")}
    for name, idx in parts.items():
        if idx.size == 0 and name != "test":
            raise EmocircError(
                f"split {split.name!r} has an empty {name} set: expected utterances in train and valid"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= len(table)):
            raise EmocircError(
                f"split {split.name!r}: {name} index out of range for a table of {len(table)} rows"
            )
    absent = sorted(set(table["label"].iloc[parts["train"]]) ^ set(config.labels))
    if absent:
        say(f"warning: training set of {split.name} lacks {absent}")
    data_hash = data_fingerprint(table)
    split_hash = _digest(json.dumps({k: v.tolist() for k, v in parts.items()}))
    run_hash = _digest(config.hash() + data_hash + split_hash + _TRAINING_VERSION)
    if _run_is_finished(out, run_hash):
        shutil.rmtree(out / _CHECKPOINT, ignore_errors=True)
        say(f"{out}: finished run found, reused")
        return out

    device = _resolve_device(config.device)
    precision = config.mixed_precision
    if precision == "auto":
        precision = "bf16" if device.startswith("cuda") else "no"
    want_graphs = config.cuda_graphs and device.startswith("cuda") and precision != "fp16"
    handlers: list[Any] = [DistributedDataParallelKwargs(find_unused_parameters=True)]
    if want_graphs:
        # Autocast's cache of cast weights must not be kept across a graph capture.
        handlers.append(AutocastKwargs(cache_enabled=False))
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=precision, kwargs_handlers=handlers)

    from emocirc.backbones import load_backbone

    backbone = load_backbone(config.backbone, device="cpu")
    encoder = backbone.model
    saved_encoder_settings = {
        "apply_spec_augment": encoder.config.apply_spec_augment,
        "layerdrop": encoder.config.layerdrop,
    }
    encoder.config.apply_spec_augment = config.spec_augment
    encoder.config.layerdrop = config.layerdrop
    torch.manual_seed(config.seed)
    model = EmotionClassifier(encoder, config.labels, backbone.do_normalize)
    if config.mode == "partial":
        encoder.freeze_feature_encoder()
    elif config.mode == "frozen":
        encoder.requires_grad_(False)
    encoder_params = [p for p in encoder.parameters() if p.requires_grad]
    # fp16 loss scaling checks for inf on the host; several processes synchronise gradients.
    graphs = want_graphs and accelerator.num_processes == 1
    if config.cuda_graphs and not graphs:
        say("note: cuda_graphs needs one CUDA process and bf16 or no mixed precision; running eagerly")
    # On CUDA one fused kernel per step instead of a few per parameter group.
    adam = {"capturable": graphs, **({"fused": True} if device.startswith("cuda") else {})}
    opt_head = torch.optim.Adam(model.head.parameters(), lr=config.lr_head, **adam)
    opt_encoder = torch.optim.Adam(encoder_params, lr=config.lr_backbone, **adam) if encoder_params else None
    sched_head = NewBob(
        config.lr_head, config.annealing_factor, config.improvement_threshold, config.patience
    )
    sched_encoder = NewBob(
        config.lr_backbone, config.annealing_factor, config.improvement_threshold, config.patience
    )

    # Resume from the last completed epoch, if any.
    start_epoch, rows, best = 0, [], {"error": math.inf, "epoch": 0, "state": None}
    ckpt = out / _CHECKPOINT
    # A kill between the two renames that replace the checkpoint leaves the previous one aside:
    # put it back (the new one, a ``.partial`` sibling, may be half-written and is never used).
    recover_dir(ckpt, lambda p: (p / "state.pt").is_file())
    if (ckpt / "state.pt").is_file():
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=True)
        if state["run_hash"] != run_hash:
            raise EmocircError(
                f"{ckpt} belongs to another configuration or data (run hash {state['run_hash']}, expected "
                f"{run_hash}): choose another --out or delete it"
            )
        model.load_state_dict(state["model"])
        opt_head.load_state_dict(state["opt_head"])
        if opt_encoder is not None:
            opt_encoder.load_state_dict(state["opt_encoder"])
        sched_head.load_state_dict(state["sched_head"])
        sched_encoder.load_state_dict(state["sched_encoder"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, rows = int(state["epoch"]), list(state["rows"])
        best = {
            "error": float(state["best_error"]),
            "epoch": int(state["best_epoch"]),
            "state": torch.load(ckpt / "best.pt", map_location="cpu", weights_only=True),
        }
        say(f"resuming {out} after epoch {start_epoch}")

    # Corpora here are small: load every waveform of the split once.
    needed = np.unique(np.concatenate(list(parts.values())))
    waves = {int(i): load_audio(str(table["path"].iloc[i])) for i in needed}
    lengths = {name: np.array([len(waves[int(i)]) for i in idx]) for name, idx in parts.items()}

    if opt_encoder is not None:
        model, opt_head, opt_encoder = accelerator.prepare(model, opt_head, opt_encoder)
    else:
        model, opt_head = accelerator.prepare(model, opt_head)
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.compile_layers = config.compile
    crop = int(config.crop_seconds * SAMPLE_RATE) if config.crop_seconds else None
    pad = int(round(config.pad_multiple * SAMPLE_RATE))
    optimizers = [opt for opt in (opt_head, opt_encoder) if opt is not None]
    train_step = TrainStep(
        model,
        [getattr(opt, "optimizer", opt) for opt in optimizers] if graphs else optimizers,
        config.max_grad_norm,
        {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision),
        backward=accelerator.backward,
        clip=accelerator.clip_grad_norm_,
        graphs=graphs,
    )
    labels_index = {lab: i for i, lab in enumerate(config.labels)}
    y_all = np.array([labels_index[lab] for lab in table["label"]])

    n_proc, rank = accelerator.num_processes, accelerator.process_index

    def evaluate_part(name: str) -> tuple[float, dict[str, Any]]:
        idx = parts[name]
        unwrapped.eval()
        done = []  # (start, loss sum, utterances, predictions) of each batch evaluated here
        order = np.argsort(lengths[name], kind="stable")
        # The same batches as one process would evaluate, dealt out to the processes:
        # every utterance is padded as in a one-process run, so the metrics are the same.
        with torch.no_grad(), accelerator.autocast():
            for start in range(0, len(idx), config.eval_batch_size)[rank::n_proc]:
                chunk = idx[order[start : start + config.eval_batch_size]]
                wav, lens = _collate([waves[int(i)] for i in chunk], None, None)
                logp = unwrapped(wav.to(accelerator.device), lens.to(accelerator.device)).float()
                target = torch.as_tensor(y_all[chunk], device=logp.device)
                loss = torch.nn.functional.nll_loss(logp, target, reduction="sum").item()
                done.append((start, loss, chunk, logp.argmax(dim=-1).cpu().numpy()))
        if n_proc > 1:
            everyone: list[Any] = [None] * n_proc
            torch.distributed.all_gather_object(everyone, done)
            done = sorted((entry for part in everyone for entry in part), key=lambda entry: entry[0])
        losses = [loss for _, loss, _, _ in done]
        pred = np.empty(len(table), dtype=np.int64)
        for _, _, chunk, p in done:
            pred[chunk] = p
        names = np.array(config.labels, dtype=object)
        summary = classification_summary(names[y_all[idx]], names[pred[idx]], config.labels)
        return float(np.sum(losses) / max(1, len(idx))), summary

    for epoch in range(start_epoch + 1, config.epochs + 1):
        tic = time.perf_counter()
        epoch_seed = config.seed * 100_003 + epoch
        # Dropout and time masks differ between processes (one process: the seed as always).
        torch.manual_seed(epoch_seed + 7_919 * rank)
        rng = np.random.default_rng(epoch_seed)
        mine = _process_batches(
            _batches(lengths["train"], config.batch_size * n_proc, rng, config.bucket), rank, n_proc
        )
        model.train()
        if config.mode == "frozen":
            unwrapped.encoder.eval()
        bar = _progress(mine, f"epoch {epoch}/{config.epochs}", progress and accelerator.is_main_process)
        for number, batch in enumerate(bar):
            idx = parts["train"][batch]
            wav, lens = _collate([waves[int(i)] for i in idx], rng, crop, pad)
            train_step(wav, lens, torch.as_tensor(y_all[idx]))
            if hasattr(bar, "set_postfix") and number % 20 == 0:
                bar.set_postfix(loss=f"{train_step.mean_loss(reset=False):.3f}")  # reads the device
        train_loss = train_step.mean_loss()
        if n_proc > 1:  # the mean over every process's batches (each takes as many)
            train_loss = float(
                accelerator.reduce(torch.tensor(train_loss, device=accelerator.device), "mean")
            )
        if graphs:
            say(f"epoch {epoch}: {train_step.num_graphs} batch shapes replayed from CUDA graphs")
        valid_loss, valid = evaluate_part("valid")
        valid_error = 1.0 - valid["weighted_accuracy"]
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "valid_loss": valid_loss,
            "valid_error": valid_error,
            "valid_wa": valid["weighted_accuracy"],
            "valid_ua": valid["unweighted_recall"],
            "valid_f1": valid["macro_f1"],
            "lr_backbone": sched_encoder.value if opt_encoder is not None else 0.0,
            "lr_head": sched_head.value,
            "seconds": time.perf_counter() - tic,
        }
        rows.append(row)
        # NewBob sets the learning rates of the next epoch.
        for sched, opt in ((sched_head, opt_head), (sched_encoder, opt_encoder)):
            lr = sched.step(valid_error)
            if opt is not None and any(group["lr"] != lr for group in opt.param_groups):
                for group in opt.param_groups:
                    group["lr"] = lr
                train_step.learning_rates_changed()
        weights = _cpu_state(unwrapped)  # one device-to-host copy, for the checkpoint and the best weights
        improved = valid_error < best["error"]
        if improved:
            best = {"error": valid_error, "epoch": epoch, "state": weights}
        if accelerator.is_main_process:
            _save_checkpoint(
                ckpt,
                {
                    "run_hash": run_hash,
                    "epoch": epoch,
                    "rows": rows,
                    "model": weights,
                    "opt_head": opt_head.state_dict(),
                    "opt_encoder": opt_encoder.state_dict() if opt_encoder is not None else {},
                    "sched_head": sched_head.state_dict(),
                    "sched_encoder": sched_encoder.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "best_error": best["error"],
                    "best_epoch": best["epoch"],
                },
                best["state"],
            )
            write_text(out / "log.csv", _csv(rows))
        accelerator.wait_for_everyone()
        say(
            f"epoch {epoch}/{config.epochs}  train loss {row['train_loss']:.4f}  valid loss {valid_loss:.4f}  "
            f"valid WA {valid['weighted_accuracy']:.3f} UA {valid['unweighted_recall']:.3f}  "
            f"lr {row['lr_backbone']:.2e}/{row['lr_head']:.2e}  {row['seconds']:.1f}s"
            + ("  *" if improved else "")
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)

    # The kept model is the one with the lowest validation error.
    if best["state"] is not None:
        unwrapped.load_state_dict(best["state"])
    valid_loss, valid = evaluate_part("valid")
    test = evaluate_part("test")[1] if parts["test"].size else None
    if accelerator.is_main_process:
        for key, value in saved_encoder_settings.items():
            setattr(unwrapped.encoder.config, key, value)
        _write_run(
            out,
            unwrapped,
            backbone,
            config,
            {
                "run_hash": run_hash,
                "data_hash": data_hash,
                "split": split.name,
                "sizes": {k: int(v.size) for k, v in parts.items()},
                "corpus": {k: str(v) for k, v in table.attrs.items() if k in ("format", "root")},
                "skipped": [str(s) for s in table.attrs.get("skipped", [])],  # left out by skip_bad
                "backbone_fingerprint": backbone.fingerprint,
                "emocirc_version": __version__,
            },
            {
                "split": split.name,
                "best_epoch": best["epoch"],
                "epochs": config.epochs,
                "valid": valid,
                "test": test,
            },
            rows,
        )
        shutil.rmtree(ckpt, ignore_errors=True)
        _sweep_leftovers(out)
    accelerator.wait_for_everyone()
    return out


def _process_batches(batches: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """Process ``rank``'s share of each of an epoch's global batches (``world`` x the per-process size).

    Step k of every process takes a part of global batch k, and DDP averages
    the gradients, so ``world`` processes at batch size ``b`` take the steps
    one process takes at ``world * b`` (but each part is padded on its own).
    A global batch too small to give every process an utterance is left out,
    so that every process takes the same number of steps, as DDP requires.

    Examples
    --------
    >>> import numpy as np
    >>> batches = [np.arange(4), np.arange(4, 8), np.array([8])]
    >>> [b.tolist() for b in _process_batches(batches, 1, 2)]
    [[2, 3], [6, 7]]
    >>> len(_process_batches(batches, 0, 1))
    3
    """
    return [np.array_split(batch, world)[rank] for batch in batches if len(batch) >= world]


def _progress(items: list, desc: str, enabled: bool):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, unit="batch")


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _save_checkpoint(ckpt: Path, state: dict[str, Any], best_state: dict[str, torch.Tensor] | None) -> None:
    # One directory replaced as a whole: a kill at any moment leaves either the
    # previous complete epoch or this one, never a mixture.
    with atomic_dir(ckpt) as tmp:
        torch.save(state, tmp / "state.pt")
        torch.save(best_state or {}, tmp / "best.pt")


# Temporary siblings that emocirc's atomic writes leave in a run directory when killed.
_LEFTOVER_PREFIXES = tuple(
    f".{name}."
    for name in (
        _CHECKPOINT,
        "encoder",
        "log.csv",
        "head.safetensors",
        "label_map.json",
        "training_config.json",
        "metrics.json",
    )
)


def _sweep_leftovers(out: Path) -> None:
    """Remove what killed runs left half-written here; called once the run is complete."""
    for item in out.iterdir():
        if item.name.startswith(_LEFTOVER_PREFIXES):
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write_run(
    out: Path,
    model: EmotionClassifier,
    backbone: Any,
    config: FinetuneConfig,
    info: dict[str, Any],
    metrics: dict[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    from safetensors.torch import save_file

    from emocirc.backbones import Backbone

    out.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").float()
    encoder_backbone = Backbone(
        model=model.encoder, name=str(out), do_normalize=backbone.do_normalize, fingerprint=""
    )
    # The encoder is written beside and moved in file by file (each rename is atomic);
    # metrics.json goes last and marks the run complete.
    staging = Path(tempfile.mkdtemp(prefix=".encoder.", dir=out))
    try:
        encoder_backbone.save_pretrained(staging)
        fsync_tree(staging)  # on disk before the renames publish it
        for item in staging.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with atomic_path(out / "head.safetensors") as tmp:
        save_file({"weight": model.head.weight.detach().contiguous()}, str(tmp))
    write_json(out / "label_map.json", {lab: i for i, lab in enumerate(model.labels)})
    write_json(out / "training_config.json", {"model": config.backbone, "config": config.to_dict(), **info})
    write_text(out / "log.csv", _csv(rows))
    write_json(out / "metrics.json", metrics)


# --------------------------------------------------------------------------- evaluation


def predict(
    checkpoint: str | os.PathLike[str] | EmotionClassifier,
    df: pd.DataFrame,
    device: str = "auto",
    batch_size: int = 1,
) -> pd.DataFrame:
    """Classify every utterance of a table; one row per utterance with its log-probabilities.

    Returns a DataFrame with ``id``, ``label`` (as in ``df``), ``predicted``
    and one ``logp_<class>`` column per class.
    """
    model = checkpoint if isinstance(checkpoint, EmotionClassifier) else None
    device = _resolve_device(device)
    if model is None:
        model = load_classifier(checkpoint, device=device)
    model.to(device).eval()
    paths = df["path"].tolist()
    logps = np.zeros((len(df), len(model.labels)), dtype=np.float32)
    waves = [load_audio(str(p)) for p in paths]
    order = np.argsort([len(w) for w in waves], kind="stable")
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            wav, lens = _collate([waves[i] for i in chunk], None, None)
            logps[chunk] = model(wav.to(device), lens.to(device)).float().cpu().numpy()
    out = pd.DataFrame(
        {
            "id": df["id"].astype(str).tolist(),
            "label": df["label"].tolist(),
            "predicted": [model.labels[i] for i in logps.argmax(axis=1)],
        }
    )
    for i, lab in enumerate(model.labels):
        out[f"logp_{lab}"] = logps[:, i]
    return out


def evaluate(
    checkpoint: str | os.PathLike[str],
    df: pd.DataFrame,
    device: str = "auto",
    batch_size: int = 1,
) -> dict[str, Any]:
    """Score a fine-tuned run on another corpus through the four-class label mapping.

    Utterances whose label has no counterpart among the classifier's classes
    (EMODB's boredom, disgust, fear) are left out and counted.

    Returns
    -------
    dict
        ``n``, ``dropped`` (label -> count), ``weighted_accuracy`` (WA),
        ``unweighted_recall`` (UA), ``macro_f1``, ``recall`` (per class),
        ``labels``, ``confusion`` (rows true, columns predicted),
        ``happiness_as_anger`` (share of true happiness predicted as anger;
        NaN without happiness), ``skipped`` (files the corpus table left out
        with ``skip_bad``) and ``predictions`` (a DataFrame, see :func:`predict`).
    """
    model = load_classifier(checkpoint, device=_resolve_device(device))
    table = prepare_table(df, model.labels)
    if table.empty:
        raise EmocircError(
            f"no utterance of the corpus maps onto the classifier's labels {model.labels} "
            f"(corpus labels: {sorted(set(df['label']))})"
        )
    kept = set(table["id"].astype(str))
    dropped = df.loc[~df["id"].astype(str).isin(kept), "label"].value_counts().to_dict()
    preds = predict(model, table, device=device, batch_size=batch_size)
    summary = classification_summary(preds["label"].tolist(), preds["predicted"].tolist(), model.labels)
    happy = preds["label"] == "happiness"
    share = float((preds.loc[happy, "predicted"] == "anger").mean()) if happy.any() else float("nan")
    return {
        "n": summary["n"],
        "dropped": {str(k): int(v) for k, v in dropped.items()},
        "weighted_accuracy": summary["weighted_accuracy"],
        "unweighted_recall": summary["unweighted_recall"],
        "macro_f1": summary["macro_f1"],
        "recall": summary["recall"],
        "labels": summary["labels"],
        "confusion": summary["confusion"],
        "happiness_as_anger": share,
        "skipped": [str(s) for s in df.attrs.get("skipped", [])],
        "predictions": preds,
    }


def read_log(run: str | os.PathLike[str]) -> pd.DataFrame:
    """The per-epoch log of a run directory (``log.csv``) as a DataFrame."""
    path = Path(run) / "log.csv"
    if not path.is_file():
        raise EmocircError(f"{path}: no training log (expected a run directory written by emocirc finetune)")
    return pd.read_csv(path)


def read_metrics(run: str | os.PathLike[str]) -> dict[str, Any]:
    """The final metrics of a run directory (``metrics.json``, or ``summary.json`` for ``--fold all``)."""
    run = Path(run)
    for name in ("metrics.json", "summary.json"):
        if (run / name).is_file():
            return json.loads((run / name).read_text())
    raise EmocircError(
        f"{run}: no metrics.json or summary.json (expected a finished run of emocirc finetune)"
    )
