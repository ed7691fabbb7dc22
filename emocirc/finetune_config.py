"""The settings of a fine-tuning run (:class:`FinetuneConfig`), apart from the training code.

Kept light (no torch) so that ``emocirc --help`` and argument parsing stay
fast; :mod:`emocirc.finetune` re-exports everything here.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from emocirc._settings import Settings, digest
from emocirc.errors import EmocircError
from emocirc.labels import FOUR_CLASS
from emocirc.splits import PROTOCOLS

MODES: tuple[str, ...] = ("partial", "full", "frozen")
#: The runs' hash (kept under its old name for the fine-tuning modules).
_digest = digest


@dataclass
class FinetuneConfig(Settings):
    """Every hyper-parameter of a fine-tuning run (defaults: the seed's recipe).

    Parameters
    ----------
    backbone:
        What :func:`emocirc.backbones.load_backbone` loads: ``"tiny"``,
        ``"base-random"``, a directory or a Hugging Face id.
    mode:
        ``"partial"`` (CNN feature encoder frozen, transformer trained; the
        recipe), ``"full"`` (everything trained) or ``"frozen"`` (encoder
        frozen, only the head trained: a SUPERB-style probe on the last layer).
    labels:
        Classes of the head, in output order. Corpus labels are mapped with
        :func:`emocirc.labels.to_four_class`; utterances that map to none are dropped.
    epochs, batch_size:
        Passes over the training set; utterances per optimiser step (per process).
    lr_backbone, lr_head:
        Initial learning rates of the two Adam optimisers.
    annealing_factor, improvement_threshold, patience:
        NewBob annealing: when the relative improvement of the validation
        error is below the threshold, both learning rates are multiplied by
        the factor (after ``patience`` further epochs without improvement).
    max_grad_norm:
        Gradient clipping (global L2 norm; SpeechBrain's default of 5).
    seed:
        Seeds the head, the data order, dropout and the speaker-dependent split.
    protocol, fold:
        Which :func:`emocirc.splits.folds` protocol, and which fold: an index,
        a fold name, or ``"all"`` (every fold; mean and standard deviation).
    crop_seconds:
        Randomly crop training utterances longer than this (``None``: whole utterances).
    bucket:
        Batch utterances of similar length, which limits zero padding (the
        group norm of wav2vec2-base makes padding change the features).
    spec_augment, layerdrop:
        The encoder's own time masking and layer drop; SpeechBrain's wrapper
        turns SpecAugment off, and layer drop is off here so that batches of
        different processes run the same layers.
    eval_batch_size:
        Utterances per forward pass at validation and test time; 1 (default)
        means no padding at all, so an utterance's score never depends on its batch.
    mixed_precision:
        ``"auto"`` (bf16 on CUDA, none on CPU), ``"bf16"``, ``"fp16"`` or ``"no"``.
    compile:
        Compile the transformer layers for training with ``torch.compile``
        (:meth:`emocirc.classifier.EmotionClassifier.compiled_layers`; GPU speed-up, composes
        with ``cuda_graphs``; evaluation stays eager; not hashed).
    cuda_graphs:
        Replay each training step from a CUDA graph per batch shape
        (:class:`emocirc.train_step.TrainStep`; one CUDA process; not hashed).  Pays off when
        shapes repeat: with fixed-length crops or ``pad_multiple``.
    pad_multiple:
        Pad each training batch to a multiple of this many seconds (0: to
        its longest utterance, as the recipe does).  Fewer distinct shapes
        for ``cuda_graphs`` and ``compile``, at the price of more zero
        padding seen by group-norm encoders.
    device:
        ``"auto"``, ``"cpu"``, ``"cuda"``... (not hashed; ``accelerate launch`` decides when used).
    extra:
        Free-form notes about the run (JSON-ready values, e.g. ``{"tag": "pilot"}``).
        The training code never reads them, but they are written with the run and
        hashed: runs that differ only here get different run directories (and
        cache entries), so a note can keep two otherwise equal runs apart.

    Examples
    --------
    >>> cfg = FinetuneConfig(backbone="tiny", epochs=2)
    >>> cfg.lr_backbone, cfg.lr_head, cfg.batch_size, cfg.mode
    (1e-05, 0.0001, 4, 'partial')
    >>> cfg.hash() == FinetuneConfig(backbone="tiny", epochs=2, device="cpu").hash()
    True
    """

    KIND = "fine-tuning"
    #: Fields that do not change what is learned (left out of the run hash).
    NOT_HASHED = ("device", "compile", "cuda_graphs")
    #: Fields left out of the run hash while they keep these defaults (hashes of older runs stay valid).
    HASHED_UNLESS_DEFAULT = {"pad_multiple": 0.0}

    backbone: str = "facebook/wav2vec2-base"
    mode: str = "partial"
    labels: tuple[str, ...] = FOUR_CLASS
    epochs: int = 30
    batch_size: int = 4
    lr_backbone: float = 1e-5
    lr_head: float = 1e-4
    annealing_factor: float = 0.9
    improvement_threshold: float = 0.0025
    patience: int = 0
    max_grad_norm: float = 5.0
    seed: int = 0
    protocol: str = "speaker-dependent"
    fold: int | str = 0
    crop_seconds: float | None = None
    bucket: bool = True
    spec_augment: bool = False
    layerdrop: float = 0.0
    eval_batch_size: int = 1
    mixed_precision: str = "auto"
    compile: bool = False
    cuda_graphs: bool = False
    pad_multiple: float = 0.0
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        if self.mode not in MODES:
            raise EmocircError(f"fine-tuning mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.protocol not in PROTOCOLS:
            raise EmocircError(f"protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "no"):
            raise EmocircError(f"mixed_precision {self.mixed_precision!r}: expected auto, bf16, fp16 or no")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise EmocircError(f"{name}={value!r}: expected a positive integer")
        if not (isinstance(self.pad_multiple, (int, float)) and self.pad_multiple >= 0):
            raise EmocircError(f"pad_multiple={self.pad_multiple!r}: expected seconds >= 0")
        for name in ("lr_backbone", "lr_head", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise EmocircError(f"{name}={getattr(self, name)!r}: expected a positive number")
        if len(set(self.labels)) < 2:
            raise EmocircError(f"labels {self.labels}: expected at least two distinct classes")
        if isinstance(self.fold, str) and self.fold.isdigit():
            self.fold = int(self.fold)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values."""
        data = dataclasses.asdict(self)
        data["labels"] = list(self.labels)
        return data

    @classmethod
    def normalise(cls, data: dict[str, Any], source: str) -> dict[str, Any]:
        """YAML lists of labels become tuples; ``extra`` must be a mapping."""
        if isinstance(data.get("labels"), list):
            data["labels"] = tuple(data["labels"])
        if "extra" in data and not isinstance(data["extra"], dict):
            raise EmocircError(f"{source}: extra={data['extra']!r}; expected a mapping")
        return data


def read_settings(path: str | os.PathLike[str]) -> dict[str, Any]:
    r"""The field values of a YAML fine-tuning configuration, checked against :class:`FinetuneConfig`'s fields.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.yml"
    >>> _ = path.write_text("epochs: 3\nlabels: [anger, neutral]\n")
    >>> read_settings(path)
    {'epochs': 3, 'labels': ('anger', 'neutral')}
    >>> _ = path.write_text("epoch: 3\n")
    >>> read_settings(path)
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: ...run.yml: unknown fine-tuning setting 'epoch'; expected some of ...
    """
    return FinetuneConfig.read_settings(path)
