"""Classification metrics of speech emotion recognition, in the field's words.

- weighted accuracy (WA): the share of utterances classified correctly (plain
  accuracy; "weighted" because every class counts by its size);
- unweighted average recall (UA): the mean of the per-class recalls (balanced
  accuracy), which a majority-class guesser cannot inflate;
- macro-F1: the mean of the per-class F1 scores;
- the confusion matrix, rows true labels and columns predictions, in an
  explicit label order so that figures and tables line up across runs.

Labels are strings (canonical emotion names); the default order is
:func:`emocirc.labels.label_order` of every label seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
    index = {lab: i for i, lab in enumerate(order)}
    matrix = np.zeros((len(order), len(order)), dtype=np.int64)
    for t, p in zip(true, pred, strict=True):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix


def weighted_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Share of utterances whose predicted label is the true one (WA).

    Examples
    --------
    >>> weighted_accuracy(["anger", "anger", "anger", "sadness"], ["anger"] * 4)
    0.75
    """
    true, pred = _as_labels(y_true, y_pred)
    return float(np.mean(true == pred))


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
    out = {}
    for lab in order:
        mask = true == lab
        out[lab] = float(np.mean(pred[mask] == lab)) if mask.any() else float("nan")
    return out


def unweighted_recall(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> float:
    """Unweighted average recall (UA): the mean recall over the true labels present.

    Classes with no utterance in ``y_true`` are left out of the mean (their
    recall is undefined), as balanced accuracy does.

    Examples
    --------
    >>> unweighted_recall(["anger", "anger", "anger", "sadness"], ["anger"] * 4)
    0.5
    """
    recalls = [r for r in per_class_recall(y_true, y_pred, labels).values() if not np.isnan(r)]
    if not recalls:
        raise EmocircError(f"none of the labels {list(labels or [])} occurs in y_true: UA is undefined")
    return float(np.mean(recalls))


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
    cm = confusion_matrix(true, pred, order).astype(float)
    tp = np.diag(cm)
    denom = cm.sum(axis=0) + cm.sum(axis=1)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


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
