"""The encoder a chapter asks for: the backbone as loaded, or fine-tuned on IEMOCAP with the book's settings.

Chapters 4-8 share one set of fine-tuning settings, :data:`BOOK_FINETUNE`,
which a chapter's ``finetune`` parameter overrides key by key.  Every chapter
builds its run's configuration with :func:`finetune_config`, so a
``finetune`` entry in a PARAMS file's ``shared`` section reaches every chapter
alike and they all reuse one cached run (:func:`emocirc.finetune.finetune_cached`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emocirc.errors import EmocircError
from emocirc.finetune_config import FinetuneConfig

#: The book's fine-tuning settings (keys of :class:`~emocirc.finetune_config.FinetuneConfig`).
#: The recipe (CNN frozen, two Adams, NewBob) at 8 epochs instead of 30; learning rates for the
#: small pre-trained backbone, chosen by measurement (benchmarks/README.md, "Fine-tuning the
#: pre-trained backbone") against the recipe's 1e-5 / 1e-4.
BOOK_FINETUNE: dict[str, Any] = {
    "mode": "partial",
    "epochs": 8,
    "batch_size": 4,
    "lr_backbone": 5e-4,
    "lr_head": 5e-3,
    "cuda_graphs": False,
    "pad_multiple": 0.0,
    "compile": False,
}

#: What ``features_from`` may ask for.
SOURCES: tuple[str, ...] = ("finetuned", "pretrained")


@dataclass(frozen=True)
class ChapterEncoder:
    """An encoder for a chapter: what to pass to ``extract_features``, and its fine-tuning run if any.

    Attributes
    ----------
    spec:
        A backbone name, directory or hub id (:func:`emocirc.backbones.load_backbone`).
    run:
        The fine-tuning run directory, or ``None`` for the backbone as loaded.
    config:
        The run's configuration, or ``None``.
    """

    spec: str
    run: Path | None = None
    config: FinetuneConfig | None = None

    def __str__(self) -> str:
        return self.spec

    def __fspath__(self) -> str:
        return self.spec

    @property
    def finetuned(self) -> bool:
        """Whether this is a fine-tuned encoder."""
        return self.run is not None


def finetune_config(
    backbone: str,
    finetune: dict[str, Any] | None = None,
    *,
    device: str = "auto",
    seed: int = 0,
    protocol: str = "speaker-dependent",
    fold: int | str = 0,
) -> FinetuneConfig:
    """The fine-tuning configuration of a chapter: :data:`BOOK_FINETUNE` updated by ``finetune``.

    Examples
    --------
    >>> cfg = finetune_config("tiny-pretrained", {"epochs": 2})
    >>> cfg.epochs, cfg.mode, cfg.backbone
    (2, 'partial', 'tiny-pretrained')
    >>> finetune_config("tiny", {"pad_multiple": 0.5}).hash() == finetune_config("tiny").hash()
    False
    """
    overrides = dict(finetune or {})
    for name in ("backbone", "device", "seed", "protocol", "fold"):
        if name in overrides:
            raise EmocircError(f"finetune={{{name!r}: ...}}: set the chapter's own {name} parameter instead")
    settings = {**BOOK_FINETUNE, **overrides}
    fields = set(FinetuneConfig.__dataclass_fields__)
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise EmocircError(
            f"finetune settings {unknown}: expected keys of FinetuneConfig ({', '.join(sorted(fields))})"
        )
    return FinetuneConfig(
        backbone=str(backbone), device=device, seed=seed, protocol=protocol, fold=fold, **settings
    )


def chapter_encoder(
    iemocap_root: str | os.PathLike[str],
    features_from: str = "finetuned",
    *,
    backbone: str,
    finetune: dict[str, Any] | None = None,
    device: str = "auto",
    seed: int = 0,
    protocol: str = "speaker-dependent",
    fold: int | str = 0,
    progress: bool = False,
    skip_bad: bool = False,
) -> ChapterEncoder:
    """The encoder a chapter asks for, fine-tuning it on ``iemocap_root`` (once; cached) when asked.

    Parameters
    ----------
    iemocap_root:
        The corpus fine-tuned on.
    features_from:
        ``"finetuned"`` (the backbone fine-tuned with :func:`finetune_config`'s
        settings) or ``"pretrained"`` (the backbone as loaded: pre-trained, or
        random init for ``tiny``).
    backbone, finetune, device, seed, protocol, fold:
        As for :func:`finetune_config`.
    progress:
        Show the fine-tuning progress bar (off by default: in a notebook it is
        a widget whose state an executed page does not keep).
    skip_bad:
        Leave damaged audio files of ``iemocap_root`` out (recorded in the
        run) instead of stopping, as :func:`emocirc.finetune.finetune_cached`.

    Examples
    --------
    >>> chapter_encoder("unused", "pretrained", backbone="tiny").spec
    'tiny'
    """
    if features_from not in SOURCES:
        raise EmocircError(f"features_from={features_from!r}: expected one of {', '.join(SOURCES)}")
    if features_from == "pretrained":
        return ChapterEncoder(spec=str(backbone))
    from emocirc.finetune import finetune_cached

    config = finetune_config(backbone, finetune, device=device, seed=seed, protocol=protocol, fold=fold)
    run = Path(finetune_cached(iemocap_root, config, progress=progress, skip_bad=skip_bad))
    return ChapterEncoder(spec=str(run), run=run, config=config)
