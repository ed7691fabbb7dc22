"""Metrics of speech emotion recognition, in the field's words.

Classification (labels are strings, canonical emotion names; the default
order is :func:`emocirc.labels.label_order` of every label seen), as thin
wrappers over :mod:`sklearn.metrics` that fix the field's conventions:

- weighted accuracy (WA): the share of utterances classified correctly (plain
  accuracy; "weighted" because every class counts by its size);
- unweighted average recall (UA): the mean of the per-class recalls over the
  classes present in ``y_true`` (balanced accuracy), which a majority-class
  guesser cannot inflate; the package's one UA;
- macro-F1: the mean of the per-class F1 scores;
- the confusion matrix, rows true labels and columns predictions, in an
  explicit label order so that figures and tables line up across runs.

Dimensional ratings (valence, arousal): Lin's concordance correlation
coefficient (CCC), which scikit-learn does not have.

The tests check every one of them against audEERING's independent
implementation (``audmetric``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from emocirc.errors import EmocircError
from emocirc.labels import label_order


def _as_labels(y_true: Sequence[str], y_pred: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(y_true, dtype=object).ravel()
    pred = np.asarray(y_pred, dtype=object).ravel()
    if true.shape != pred.shape:
        raise EmocircError(
            f"y_true has {true.size} labels but y_pred has {pred.size}: expected one prediction per utterance"
        )
    if true.size == 0:
        raise EmocircError("no utterances to score: expected at least one label")
    return true, pred


def _resolve_labels(true: np.ndarray, pred: np.ndarray, labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return label_order(set(true.tolist()) | set(pred.tolist()))
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise EmocircError(f"labels {labels} repeat a name: expected each label once")
    return labels


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> np.ndarray:
    """Count utterances per (true label, predicted label).

    Parameters
    ----------
    y_true, y_pred:
        One label per utterance.
    labels:
        Row and column order; labels outside it are not counted. Default:
        every label seen, in canonical order.

    Returns
    -------
    numpy.ndarray
        Integer matrix of shape ``(len(labels), len(labels))``; entry ``[i, j]``
        counts utterances of ``labels[i]`` predicted as ``labels[j]``.

    Examples
    --------
    >>> confusion_matrix(["anger", "sadness", "anger"], ["anger", "anger", "sadness"],
    ...                  labels=["anger", "sadness"])
    array([[1, 1],
           [1, 0]])
    """
    true, pred = _as_labels(y_true, y_pred)
    order = _resolve_labels(true, pred, labels)
    if not set(order) & set(true.tolist()):
        # scikit-learn refuses this case; the counts are simply all zero.
        return np.zeros((len(order), len(order)), dtype=np.int64)
    return skm.confusion_matrix(true, pred, labels=order).astype(np.int64)


def weighted_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Share of utterances whose predicted label is the true one (WA).

    Examples
    --------
    >>> weighted_accuracy(["anger", "anger", "anger", "sadness"], ["anger"] * 4)
    0.75
    """
    true, pred = _as_labels(y_true, y_pred)
    return float(skm.accuracy_score(true, pred))


def per_class_recall(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """Recall of each label present in ``y_true`` (NaN for labels absent from it).

    Examples
    --------
    >>> per_class_recall(["anger", "anger", "sadness"], ["anger", "sadness", "sadness"])
    {'anger': 0.5, 'sadness': 1.0}
    """
    true, pred = _as_labels(y_true, y_pred)
    order = _resolve_labels(true, pred, labels)
    recalls = skm.recall_score(true, pred, labels=order, average=None, zero_division=np.nan)
    return {lab: float(r) for lab, r in zip(order, recalls, strict=True)}


def unweighted_recall(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> float:
    """Unweighted average recall (UA): the mean recall over the true labels present.

    Classes with no utterance in ``y_true`` are left out of the mean (their
    recall is undefined), as balanced accuracy does; a prediction outside
    ``labels`` counts as a miss.

    Examples
    --------
    >>> unweighted_recall(["anger", "anger", "anger", "sadness"], ["anger"] * 4)
    0.5
    """
    true, pred = _as_labels(y_true, y_pred)
    seen = set(true.tolist())
    present = [lab for lab in _resolve_labels(true, pred, labels) if lab in seen]
    if not present:
        raise EmocircError(f"none of the labels {list(labels or [])} occurs in y_true: UA is undefined")
    return float(skm.recall_score(true, pred, labels=present, average="macro"))


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Mean F1 over ``labels`` (default: every label seen); a class never predicted nor present scores 0.

    Examples
    --------
    >>> round(macro_f1(["anger", "anger", "sadness", "sadness"],
    ...                ["anger", "sadness", "sadness", "sadness"]), 4)
    0.7333
    """
    true, pred = _as_labels(y_true, y_pred)
    order = _resolve_labels(true, pred, labels)
    return float(skm.f1_score(true, pred, labels=order, average="macro", zero_division=0))


def concordance_correlation(y_true: Any, y_pred: Any) -> float:
    """Lin's concordance correlation coefficient (CCC), over the pairs where both are finite.

    ``2 cov / (var_t + var_p + (mean_t - mean_p)^2)`` with population
    moments: 1 only for perfect agreement, penalising shifts and scale.
    NaN when both series are constant and equal.

    Examples
    --------
    >>> concordance_correlation([1, 2, 3, 4], [1, 2, 3, 4])
    1.0
    >>> round(concordance_correlation([1, 2, 3, 4], [2, 3, 4, 5]), 3)
    0.714
    """
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise EmocircError(f"concordance_correlation: expected equal lengths, got {t.size} and {p.size}")
    ok = np.isfinite(t) & np.isfinite(p)
    if ok.sum() < 2:
        raise EmocircError(f"concordance_correlation: expected at least 2 finite pairs, got {int(ok.sum())}")
    t, p = t[ok], p[ok]
    cov = np.mean((t - t.mean()) * (p - p.mean()))
    denom = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def classification_summary(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, object]:
    """WA, UA, macro-F1, per-class recall and the confusion matrix in one JSON-ready dict.

    Examples
    --------
    >>> s = classification_summary(["anger", "sadness"], ["anger", "anger"], labels=["anger", "sadness"])
    >>> s["weighted_accuracy"], s["unweighted_recall"], s["confusion"]
    (0.5, 0.5, [[1, 0], [1, 0]])
    """
    true, pred = _as_labels(y_true, y_pred)
    order = _resolve_labels(true, pred, labels)
    return {
        "n": int(true.size),
        "weighted_accuracy": weighted_accuracy(true, pred),
        "unweighted_recall": unweighted_recall(true, pred, order),
        "macro_f1": macro_f1(true, pred, order),
        "recall": per_class_recall(true, pred, order),
        "labels": order,
        "confusion": confusion_matrix(true, pred, order).tolist(),
    }
