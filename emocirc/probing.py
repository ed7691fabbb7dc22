"""Layer-wise linear probes: how much emotion each hidden state holds.

:func:`layer_probe` fits, for every hidden state of a features file, a
linear model on the speakers it is trained on and scores it on speakers it
never saw:

==============  =================================  ========================
target          probe                              score
==============  =================================  ========================
``"label"``     logistic regression (balanced)     unweighted average recall
``"arousal"``   ridge regression                   concordance correlation
``"valence"``   ridge regression                   concordance correlation
==============  =================================  ========================

Folds are built from groups (speakers by default; pass a corpus's
``session`` column for IEMOCAP's leave-one-session-out), standardisation is
fitted inside each training fold, and the held-out predictions of all folds
are pooled before scoring, so one number per layer and target summarises the
whole corpus.  The spread of the per-fold scores comes alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emocirc.circumplex import ridge_valence_arousal
from emocirc.errors import EmocircError
from emocirc.metrics import concordance_correlation, unweighted_recall

#: Targets :func:`layer_probe` knows, with the metric each is scored by.
TARGETS: dict[str, str] = {"label": "unweighted_recall", "arousal": "ccc", "valence": "ccc"}

#: Columns of the table :func:`layer_probe` returns.
COLUMNS: tuple[str, ...] = ("layer", "target", "metric", "score", "fold_std", "chance", "folds", "n")


def _targets(target: str | Sequence[str]) -> list[str]:
    names = [target] if isinstance(target, str) else list(target)
    bad = [t for t in names if t not in TARGETS]
    if bad or not names:
        raise EmocircError(f"target={target!r}: expected one or more of {', '.join(TARGETS)}")
    return names


def _splitter(groups: np.ndarray, n_splits: int | None, seed: int):
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise EmocircError(
            f"groups: expected at least 2 speakers (or sessions) for a speaker-independent probe, "
            f"got {n_groups}"
        )
    if n_splits is None or n_splits >= n_groups:
        return LeaveOneGroupOut()
    if n_splits < 2:
        raise EmocircError(f"n_splits={n_splits}: expected at least 2, or None for one group per fold")
    # Shuffled so that the seed decides which speakers share a fold.
    return GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def _probe_one(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, splitter: Any, target: str, alpha: float, C: float
) -> tuple[float, float, int]:
    classify = target == "label"
    pred = np.full(len(X), "", dtype=object) if classify else np.full(len(X), np.nan)
    fold_scores = []
    splits = list(splitter.split(X, groups=groups))
    for train, test in splits:
        if classify:
            # Balanced class weights: the score is UA, so every class counts the same.
            model = make_pipeline(
                StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
            )
        else:
            model = ridge_valence_arousal(alpha)
        pred[test] = model.fit(X[train], y[train]).predict(X[test])
        if classify:
            fold_scores.append(unweighted_recall(y[test], pred[test].astype(str)))
        elif len(test) >= 2 and np.ptp(y[test]) > 0:
            fold_scores.append(concordance_correlation(y[test], pred[test]))
    if classify:
        score = unweighted_recall(y, pred.astype(str))
    else:
        score = concordance_correlation(y, pred)
    fold_std = float(np.std(fold_scores)) if fold_scores else float("nan")
    return score, fold_std, len(splits)


def layer_probe(
    features: Any,
    target: str | Sequence[str] = "label",
    *,
    groups: Any = None,
    n_splits: int | None = 5,
    layers: Sequence[int] | None = None,
    alpha: float = 1.0,
    C: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Score a speaker-independent linear probe on every hidden state.

    Parameters
    ----------
    features:
        A :class:`~emocirc.features.Features` (``embeddings`` N x L x D,
        ``layers``, ``labels``, ``speakers``, ``valence``, ``arousal``).
    target:
        ``"label"``, ``"arousal"``, ``"valence"`` or a list of them.
        Utterances without the target (empty label, NaN rating) are left out
        of that target's probe.
    groups:
        One group per utterance that never straddles training and test
        (default: ``features.speakers``; a corpus's ``session`` column gives
        leave-one-session-out).
    n_splits:
        Number of group folds (``GroupKFold``, shuffled by ``seed``); ``None``
        or at least the number of groups holds out one group per fold.
    layers:
        Hidden-state indices to probe (default: all in ``features.layers``).
    alpha, C:
        Ridge penalty; inverse logistic-regression penalty.
    seed:
        Seed of the fold assignment.

    Returns
    -------
    pandas.DataFrame
        One row per layer and target, columns :data:`COLUMNS`: ``metric``
        (``unweighted_recall`` or ``ccc``), ``score`` (pooled over the folds'
        held-out predictions), ``fold_std`` (spread of per-fold scores),
        ``chance`` (1 / classes for UA, 0 for CCC), ``folds`` and ``n``
        (utterances scored).

    Examples
    --------
    >>> import numpy as np
    >>> from emocirc.features import Features
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["anger", "sadness"], 40)
    >>> signal = np.where(y == "anger", 1.0, -1.0)[:, None]
    >>> emb = np.stack([rng.normal(size=(80, 3)), rng.normal(size=(80, 3)) + signal], axis=1)
    >>> f = Features(ids=np.arange(80).astype(str), labels=y, speakers=np.tile(list("abcd"), 20),
    ...              embeddings=emb.astype("float32"), layers=np.array([0, 1]),
    ...              valence=np.full(80, np.nan), arousal=signal[:, 0] + rng.normal(0, 0.3, 80))
    >>> table = layer_probe(f, ["label", "arousal"], n_splits=None)
    >>> table.shape, table["metric"].unique().tolist()
    ((4, 8), ['unweighted_recall', 'ccc'])
    >>> scores = table.pivot(index="layer", columns="target", values="score")
    >>> bool((scores.loc[1] > scores.loc[0] + 0.3).all())  # only layer 1 holds the emotion
    True
    """
    names = _targets(target)
    embeddings = np.asarray(features.embeddings, dtype=float)
    if embeddings.ndim != 3:
        raise EmocircError(
            f"embeddings: expected utterances x layers x dimensions, got shape {embeddings.shape}"
        )
    n = len(embeddings)
    all_layers = np.asarray(features.layers).astype(int).tolist()
    chosen = all_layers if layers is None else [int(k) for k in layers]
    missing = [k for k in chosen if k not in all_layers]
    if missing:
        raise EmocircError(f"layers {missing} are not in these features; expected some of {all_layers}")
    groups = np.asarray(features.speakers if groups is None else groups).astype(str)
    if groups.shape != (n,):
        raise EmocircError(f"groups: expected {n} values (one per utterance), got shape {groups.shape}")
    if not np.isfinite(embeddings).all():
        raise EmocircError("embeddings: expected finite values, found NaN or infinity")

    rows = []
    prepared = {}
    for name in names:
        if name == "label":
            y = np.asarray(features.labels).astype(str)
            keep = y != ""
            classes = np.unique(y[keep])
            if len(classes) < 2:
                raise EmocircError(f"labels: expected at least 2 emotions to probe, got {classes.tolist()}")
            chance = 1.0 / len(classes)
        else:
            y = np.asarray(getattr(features, name), dtype=float)
            keep = np.isfinite(y)
            if keep.sum() < 2:
                raise EmocircError(
                    f"{name}: expected ratings for at least 2 utterances, got {int(keep.sum())}"
                )
            chance = 0.0
        idx = np.flatnonzero(keep)
        prepared[name] = (idx, y[idx], _splitter(groups[idx], n_splits, seed), chance)
    for k in chosen:
        X = embeddings[:, all_layers.index(k)]
        for name in names:
            idx, y, splitter, chance = prepared[name]
            score, fold_std, n_folds = _probe_one(X[idx], y, groups[idx], splitter, name, alpha, C)
            rows.append((k, name, TARGETS[name], score, fold_std, chance, n_folds, len(idx)))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def best_layers(table: pd.DataFrame) -> pd.Series:
    """The layer with the highest score for each target of a :func:`layer_probe` table.

    Examples
    --------
    >>> t = pd.DataFrame({"layer": [0, 1, 0, 1], "target": ["label", "label", "arousal", "arousal"],
    ...                   "score": [0.3, 0.5, 0.7, 0.2]})
    >>> best_layers(t).to_dict()
    {'arousal': 0, 'label': 1}
    """
    missing = {"layer", "target", "score"} - set(table.columns)
    if missing:
        raise EmocircError(f"probe table: expected columns layer, target, score; missing {sorted(missing)}")
    best = table.loc[table.groupby("target")["score"].idxmax()]
    return best.set_index("target")["layer"].astype(int).rename("best layer")


def layer_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per target: best layer and score, last layer's score, spread across layers and across folds.

    ``across_layers`` (best minus worst score over the hidden states) set
    against ``across_folds`` (mean per-fold standard deviation) says whether
    the choice of layer matters more than which speakers are held out.

    Examples
    --------
    >>> t = pd.DataFrame({"layer": [0, 1, 2], "target": ["label"] * 3, "score": [0.30, 0.50, 0.45],
    ...                   "fold_std": [0.05, 0.04, 0.06]})
    >>> layer_summary(t).round(3).to_dict("records")
    [{'best_layer': 1, 'best': 0.5, 'last': 0.45, 'across_layers': 0.2, 'across_folds': 0.05}]
    """
    missing = {"layer", "target", "score", "fold_std"} - set(table.columns)
    if missing:
        raise EmocircError(
            f"probe table: expected columns layer, target, score, fold_std; missing {sorted(missing)}"
        )
    out = {}
    for target, rows in table.groupby("target", sort=False):
        rows = rows.sort_values("layer")
        scores = rows["score"].to_numpy(float)
        out[target] = {
            "best_layer": int(rows["layer"].iloc[int(np.argmax(scores))]),
            "best": float(scores.max()),
            "last": float(scores[-1]),
            "across_layers": float(scores.max() - scores.min()),
            "across_folds": float(rows["fold_std"].mean()),
        }
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("target")
