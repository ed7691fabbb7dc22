"""A fine-tuning run directory: writing it (checkpoints, the finished run) and reading it back.

A finished run is a directory that every other step can load::

    OUT/config.json, OUT/model.safetensors,   the encoder, Hugging Face format
    OUT/preprocessor_config.json               (load_backbone(OUT), AutoModel)
    OUT/head.safetensors                       the linear head ("weight": C x D)
    OUT/label_map.json                         label -> output index
    OUT/training_config.json                   the configuration and the data
    OUT/log.csv                                one row per epoch
    OUT/metrics.json                           written last: the run is complete

While it trains, ``OUT/checkpoint/`` holds the last completed epoch, replaced
atomically after every epoch.  A cross-validation (``fold="all"``) is a
directory of such runs, one per fold, and ``summary.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from emocirc._io import atomic_dir, atomic_path, fsync_tree, write_json, write_text
from emocirc.checkpoints import PROVENANCE_NOTE, checkpoint_directory, read_provenance_note
from emocirc.errors import EmocircError
from emocirc.finetune_config import FinetuneConfig

if TYPE_CHECKING:
    from emocirc.classifier import EmotionClassifier

_CHECKPOINT = "checkpoint"
#: The test scores a cross-validation summarises (:func:`summarize_folds`, :func:`read_metrics`).
SCORES = ("weighted_accuracy", "unweighted_recall", "macro_f1")


def check_run(checkpoint: str | os.PathLike[str]) -> Path:
    """``checkpoint`` as a path, if it is a finished fine-tuning run (else a one-line error)."""
    path = Path(checkpoint)
    if not (path / "head.safetensors").is_file() or not (path / "label_map.json").is_file():
        raise EmocircError(
            f"{path}: not a finished fine-tuning run (expected head.safetensors and label_map.json)"
        )
    return path


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
        PROVENANCE_NOTE,
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


def _copy_provenance_note(backbone: str, out: Path) -> None:
    """Copy the backbone folder's :data:`~emocirc.checkpoints.PROVENANCE_NOTE` into the run, if it has one.

    The note says where the weights came from (e.g. a stand-in placed under a
    published id); the run's encoder is made from those weights, so its
    banners repeat the note too.
    """
    source = checkpoint_directory(backbone)
    if source is None or not (source / PROVENANCE_NOTE).is_file():
        return
    read_provenance_note(source)  # a damaged note is named here, not copied
    with atomic_path(out / PROVENANCE_NOTE) as tmp:
        shutil.copyfile(source / PROVENANCE_NOTE, tmp)


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
    _copy_provenance_note(config.backbone, out)
    write_json(out / "training_config.json", {"model": config.backbone, "config": config.to_dict(), **info})
    write_text(out / "log.csv", _csv(rows))
    write_json(out / "metrics.json", metrics)


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
    keys = SCORES
    table = {k: [float(r[k]) for r in results.values()] for k in keys}
    return {
        "protocol": config.protocol if config else None,
        "folds": list(results),
        "per_fold": {name: {k: float(r[k]) for k in keys} for name, r in results.items()},
        "mean": {k: float(np.mean(v)) for k, v in table.items()},
        "std": {k: float(np.std(v)) for k, v in table.items()},
    }


def read_log(run: str | os.PathLike[str]) -> pd.DataFrame:
    """The per-epoch log of a run directory (``log.csv``) as a DataFrame."""
    path = Path(run) / "log.csv"
    if not path.is_file():
        raise EmocircError(f"{path}: no training log (expected a run directory written by emocirc finetune)")
    return pd.read_csv(path)


def read_metrics(run: str | os.PathLike[str]) -> dict[str, Any]:
    """The final metrics of a run directory, in one shape for one split and for ``--fold all``.

    A run of one split is a cross-validation of one fold: its ``metrics.json``
    is the one fold; a ``--fold all`` directory has ``summary.json`` and one
    run per fold beside it.

    Returns
    -------
    dict
        ``protocol`` (the configuration's), ``folds`` (fold name -> that fold's
        ``metrics.json``: ``split``, ``best_epoch``, ``epochs``, ``valid`` and
        ``test``, each a :func:`emocirc.metrics.classification_summary` or
        ``None`` for an empty test set), ``mean`` and ``std`` (over the folds,
        as :func:`summarize_folds`: test WA, UA and macro-F1; ``std`` is 0 for
        one fold, and both are NaN when a fold has no test set).

    Examples
    --------
    >>> read_metrics("/nonexistent")
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: /nonexistent: no metrics.json or summary.json (expected a finished run of emocirc finetune)
    """
    run = Path(run)
    if (run / "metrics.json").is_file():
        metrics = _read_json(run / "metrics.json")
        try:
            protocol = _read_json(run / "training_config.json")["config"]["protocol"]
        except (EmocircError, KeyError, TypeError):
            protocol = None
        return _fold_summary(protocol, {str(metrics["split"]): metrics})
    if (run / "summary.json").is_file():
        summary = _read_json(run / "summary.json")
        folds = {}
        for name in summary["folds"]:
            if not (run / name / "metrics.json").is_file():
                raise EmocircError(
                    f"{run / name / 'metrics.json'}: missing fold {name!r} of {run / 'summary.json'}"
                )
            folds[name] = _read_json(run / name / "metrics.json")
        return _fold_summary(summary["protocol"], folds)
    raise EmocircError(
        f"{run}: no metrics.json or summary.json (expected a finished run of emocirc finetune)"
    )


def _fold_summary(protocol: str | None, folds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """:func:`read_metrics`'s shape: the folds' metrics with the mean and std of their test scores."""
    if all(fold.get("test") for fold in folds.values()):
        summary = summarize_folds({name: fold["test"] for name, fold in folds.items()})
        mean, std = summary["mean"], summary["std"]
    else:
        mean = {k: math.nan for k in SCORES}
        std = dict(mean)
    return {"protocol": protocol, "folds": folds, "mean": mean, "std": std}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EmocircError(f"{path}: unreadable ({err}); expected the JSON a finished run writes") from None
