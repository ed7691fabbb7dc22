"""Tests of emocirc.metrics against independent implementations (audmetric, and scikit-learn's own)."""

from __future__ import annotations

import audmetric
import numpy as np
import pytest
from sklearn import metrics as skm

from emocirc.errors import EmocircError
from emocirc.metrics import (
    classification_summary,
    concordance_correlation,
    confusion_matrix,
    macro_f1,
    per_class_recall,
    unweighted_recall,
    weighted_accuracy,
)

LABELS = ["anger", "happiness", "sadness", "neutral"]


@pytest.fixture
def labels_pair():
    rng = np.random.default_rng(3)
    true = rng.choice(LABELS, size=200, p=[0.1, 0.2, 0.3, 0.4])
    pred = np.where(rng.random(200) < 0.6, true, rng.choice(LABELS, size=200))
    return true.tolist(), pred.tolist()


def test_agrees_with_sklearn(labels_pair):
    true, pred = labels_pair
    assert weighted_accuracy(true, pred) == pytest.approx(skm.accuracy_score(true, pred))
    assert unweighted_recall(true, pred) == pytest.approx(skm.balanced_accuracy_score(true, pred))
    assert macro_f1(true, pred, LABELS) == pytest.approx(
        skm.f1_score(true, pred, labels=LABELS, average="macro")
    )
    np.testing.assert_array_equal(
        confusion_matrix(true, pred, LABELS), skm.confusion_matrix(true, pred, labels=LABELS)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_audmetric(seed):
    # audEERING's implementation shares no code with scikit-learn's.
    rng = np.random.default_rng(seed)
    true = rng.choice(LABELS, size=150, p=[0.05, 0.25, 0.3, 0.4]).tolist()
    # Predictions include a label that never occurs in the truth.
    pred = np.where(rng.random(150) < 0.5, true, rng.choice(LABELS + ["fear"], size=150)).tolist()
    everything = sorted(set(true) | set(pred))
    assert weighted_accuracy(true, pred) == pytest.approx(audmetric.accuracy(true, pred))
    # audmetric's recall counts only the labels passed, so it is given every label seen (a
    # prediction of "fear" is a miss); UA averages over the labels present in the truth.
    recalls = audmetric.recall_per_class(true, pred, labels=everything, zero_division=np.nan)
    assert np.isnan(recalls["fear"])
    assert per_class_recall(true, pred, everything) == pytest.approx(recalls, nan_ok=True)
    assert unweighted_recall(true, pred) == pytest.approx(np.nanmean(list(recalls.values())))
    assert macro_f1(true, pred) == pytest.approx(
        audmetric.unweighted_average_fscore(true, pred, labels=everything)
    )
    np.testing.assert_array_equal(
        confusion_matrix(true, pred, everything), audmetric.confusion_matrix(true, pred, labels=everything)
    )


@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (0.7, 1.0), (0.0, 0.4), (-1.2, 2.5)])
def test_ccc_agrees_with_audmetric(shift, scale):
    rng = np.random.default_rng(4)
    t = rng.normal(size=300)
    p = shift + scale * (0.6 * t + 0.8 * rng.normal(size=300))
    assert concordance_correlation(t, p) == pytest.approx(audmetric.concordance_cc(t, p))
    # NaN pairs are left out, as audmetric's ignore_nan does.
    t[::7] = np.nan
    p[::11] = np.nan
    assert concordance_correlation(t, p) == pytest.approx(audmetric.concordance_cc(t, p, ignore_nan=True))


def test_ccc_known_values():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert concordance_correlation(t, t) == pytest.approx(1.0)
    # Mirrored about its mean: perfect disagreement.
    assert concordance_correlation(t, 5.0 - t) == pytest.approx(-1.0)
    # Shift by 1: 2 cov / (var + var + 1) = 2 * 1.25 / 3.5.
    assert concordance_correlation(t, t + 1) == pytest.approx(2.5 / 3.5)
    assert np.isnan(concordance_correlation([2.0, 2.0], [2.0, 2.0]))
    with pytest.raises(EmocircError, match="at least 2 finite pairs"):
        concordance_correlation([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(EmocircError, match="equal lengths"):
        concordance_correlation([1.0, 2.0], [1.0])


def test_ua_differs_from_wa_on_imbalance():
    true = ["neutral"] * 9 + ["anger"]
    pred = ["neutral"] * 10
    assert weighted_accuracy(true, pred) == pytest.approx(0.9)
    assert unweighted_recall(true, pred) == pytest.approx(0.5)


def test_confusion_follows_label_order_and_ignores_others():
    cm = confusion_matrix(
        ["sadness", "anger", "fear"], ["anger", "anger", "anger"], labels=["sadness", "anger"]
    )
    np.testing.assert_array_equal(cm, [[0, 1], [0, 1]])
    # No true label in the order: all zeros (scikit-learn would refuse).
    np.testing.assert_array_equal(confusion_matrix(["fear"], ["anger"], labels=["anger", "sadness"]), 0)
    # Default order is the canonical one, whatever order labels appear in.
    assert classification_summary(["neutral", "anger"], ["neutral", "anger"])["labels"] == [
        "anger",
        "neutral",
    ]


def test_absent_class_recall_is_nan_and_left_out_of_ua():
    rec = per_class_recall(["anger", "anger"], ["anger", "sadness"], labels=["anger", "sadness"])
    assert rec["anger"] == 0.5 and np.isnan(rec["sadness"])
    assert unweighted_recall(["anger", "anger"], ["anger", "sadness"], labels=["anger", "sadness"]) == 0.5


def test_bad_input_names_the_problem():
    with pytest.raises(EmocircError, match="y_true has 2 labels but y_pred has 1"):
        weighted_accuracy(["anger", "anger"], ["anger"])
    with pytest.raises(EmocircError, match="no utterances"):
        unweighted_recall([], [])
    with pytest.raises(EmocircError, match="repeat"):
        confusion_matrix(["anger"], ["anger"], labels=["anger", "anger"])
