"""Circular-order tests against the rthor package and known cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emocirc import circular as circ
from emocirc.errors import EmocircError

SIX = {"happiness": 10.0, "anger": 100.0, "fear": 130.0, "sadness": 200.0, "boredom": 245.0, "calm": 320.0}


def distances_of(angles, rng=None, noise=0.0):
    xy = {k: np.array([math.cos(math.radians(v)), math.sin(math.radians(v))]) for k, v in angles.items()}
    if rng is not None:
        xy = {k: v + rng.normal(0, noise, 2) for k, v in xy.items()}
    names = list(angles)
    return pd.DataFrame(
        [[float(np.linalg.norm(xy[a] - xy[b])) for b in names] for a in names], index=names, columns=names
    )


@pytest.mark.parametrize("noise", [0.0, 0.3, 1.0])
def test_rthor_matches_the_rthor_package(noise):
    rthor = pytest.importorskip("rthor")
    rng = np.random.default_rng(int(noise * 10))
    d = distances_of(SIX, rng, noise)
    mine = circ.rthor_test(d, SIX)
    # rthor takes similarities (a correlation matrix): any decreasing map of the distances.
    similarity = 1.0 - d.to_numpy() / d.to_numpy().max()
    theirs = rthor.test(similarity, order=circ.hypothesis_ranks(SIX).tolist()).iloc[0]
    assert mine.predictions == int(theirs["predictions"])
    assert mine.agreements == int(theirs["agreements"])
    assert mine.ties == int(theirs["ties"])
    assert mine.ci == pytest.approx(float(theirs["ci"]))
    # rthor counts the observed labelling twice and skips the last permutation (RTHORR's habit).
    assert abs(mine.p_value - float(theirs["p_value"])) <= 1 / math.factorial(6) + 1e-12


def test_rthor_circular6_preset_and_known_answers():
    hexagon = {k: 60.0 * i for i, k in enumerate("abcdef")}
    assert circ.hypothesis_ranks(hexagon).tolist() == [1, 2, 3, 2, 1, 1, 2, 3, 2, 1, 2, 3, 1, 2, 1]
    perfect = circ.rthor_test(distances_of(hexagon), hexagon)
    assert perfect.ci == 1.0 and perfect.predictions == 72 and perfect.exact
    # The hexagon's 12 symmetries reproduce it: p = 12 / 720.
    assert perfect.p_value == pytest.approx(12 / 720)
    # Reversed distances violate every prediction.
    d = distances_of(hexagon)
    worst = circ.rthor_test(d.max().max() - d + np.eye(6) * 0, hexagon)
    assert worst.ci == -1.0 and worst.p_value == 1.0
    with pytest.raises(EmocircError, match="at least 3"):
        circ.rthor_test(distances_of({"a": 0, "b": 90}), {"a": 0, "b": 90})
    with pytest.raises(EmocircError, match="square DataFrame"):
        circ.rthor_test(d.iloc[:, :3], hexagon)


def test_fisher_lee_against_its_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 360, 9), rng.uniform(0, 360, 9)
    ra, rb = np.radians(a), np.radians(b)
    # Fisher and Lee (1983), eq. for rho_T in sums of cosines and sines.
    A, B = np.sum(np.cos(ra) * np.cos(rb)), np.sum(np.sin(ra) * np.sin(rb))
    C, D = np.sum(np.cos(ra) * np.sin(rb)), np.sum(np.sin(ra) * np.cos(rb))
    E, F = np.sum(np.cos(2 * ra)), np.sum(np.sin(2 * ra))
    G, H = np.sum(np.cos(2 * rb)), np.sum(np.sin(2 * rb))
    n = len(a)
    closed = 4 * (A * B - C * D) / math.sqrt((n**2 - E**2 - F**2) * (n**2 - G**2 - H**2))
    assert circ.fisher_lee(a, b) == pytest.approx(closed)
    assert circ.fisher_lee(a, a + 123.0) == pytest.approx(1.0)
    assert circ.fisher_lee(a, 50.0 - a) == pytest.approx(-1.0)


def test_circular_correlation_test_detects_a_circle_and_not_noise():
    r = circ.circular_correlation_test({k: v + 40 for k, v in SIX.items()}, SIX)
    assert r.rho == pytest.approx(1.0) and r.exact and r.p_value < 0.05
    rng = np.random.default_rng(1)
    p_values = [
        circ.circular_correlation_test({k: rng.uniform(0, 360) for k in SIX}, SIX, n_permutations=720).p_value
        for _ in range(40)
    ]
    # Under the null the p-value is roughly uniform: rarely below 0.05.
    assert np.mean(np.array(p_values) < 0.05) < 0.2


def test_what_three_and_six_labels_can_detect():
    three = {"anger": 98.0, "happiness": 38.0, "sadness": 195.0}
    assert circ.minimum_p_value(three, "triples") == 1.0
    assert circ.minimum_p_value(three, "rthor") > 0.05
    assert circ.minimum_p_value(three, "circular-correlation") > 0.05
    assert circ.minimum_p_value(SIX, "rthor") < 0.01
    assert circ.minimum_p_value(SIX, "circular-correlation") < 0.05
    with pytest.raises(EmocircError, match="test="):
        circ.minimum_p_value(SIX, "anova")
