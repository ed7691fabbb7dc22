"""Realism of the embedded corpora, judged by the prosodic baseline (issue 4, item 5).

Bounds, not exact numbers: the seven EMODB-layout emotions are recognised
well above chance but not perfectly (classes overlap, as in acted speech),
high and low arousal are nearly separable, and anger against happiness is
the hardest pair, as prosody alone makes it for human speech.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from emocirc import prosodic_baseline, synth
from emocirc.corpora import load_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emodb(tmp_path_factory):
    root = synth.synthesize_emodb(tmp_path_factory.mktemp("realism") / "emodb", seed=0, scale=0.3)
    df = load_corpus(root)
    return df, prosodic_baseline.extract_prosodic_features(df["path"])


@pytest.fixture(scope="module")
def baseline(emodb):
    df, feats = emodb
    return prosodic_baseline.loso_baseline(feats, df["label"], df["speaker"])


def test_seven_classes_well_above_chance_but_not_trivial(baseline):
    chance = 1 / 7
    assert baseline.unweighted_recall > 3 * chance  # > 0.43
    assert baseline.unweighted_recall < 0.92  # classes overlap
    # Every speaker is recognised above chance: no speaker's voice breaks the rules.
    assert (baseline.per_speaker > 2 * chance).all()


def test_high_and_low_arousal_nearly_separable(emodb):
    df, feats = emodb
    score = prosodic_baseline.binary_loso(
        feats, df["label"], df["speaker"], prosodic_baseline.HIGH_AROUSAL, prosodic_baseline.LOW_AROUSAL
    )
    assert score > 0.85


def test_anger_and_happiness_are_the_hardest_pair(emodb, baseline):
    assert baseline.most_confused_pair() == ("anger", "happiness")
    df, feats = emodb
    pairs = prosodic_baseline.pairwise_accuracies(feats, df["label"], df["speaker"])
    assert pairs.idxmin() == ("anger", "happiness")
    assert pairs.drop([("anger", "happiness")]).min() > pairs[("anger", "happiness")]


def test_iemocap_arousal_ratings_are_audible(tmp_path):
    root = synth.synthesize_iemocap(tmp_path / "iemocap", seed=0, scale=0.15)
    df = load_corpus(root)
    feats = prosodic_baseline.normalize_per_speaker(
        prosodic_baseline.extract_prosodic_features(df["path"]), df["speaker"]
    )
    # Within speakers, louder and higher voices carry higher arousal ratings.
    loud = spearmanr(feats["energy_mean"], df["arousal"]).statistic
    high = spearmanr(feats["f0_mean"], df["arousal"]).statistic
    assert loud > 0.4 and high > 0.4
    # Valence is not a prosodic feature: far weaker than arousal, as in human speech.
    val = abs(spearmanr(feats["energy_mean"], df["valence"]).statistic)
    assert val < loud
    assert isinstance(feats, pd.DataFrame) and np.isfinite(feats.to_numpy()).all()
