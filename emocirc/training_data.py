"""The training data of a fine-tuning run: the table, its splits, batches and padded waveforms."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from emocirc.errors import EmocircError
from emocirc.finetune_config import FinetuneConfig, _digest
from emocirc.labels import to_four_class
from emocirc.splits import Split, folds


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
