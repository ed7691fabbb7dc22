"""Tests of emocirc.metrics against scikit-learn's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from emocirc.errors import EmocircError
from emocirc.metrics import (
    classification_summary,
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
