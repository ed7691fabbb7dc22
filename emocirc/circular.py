"""Tests of a hypothesised circular order that psychology uses, for emotion centres.

Beside the project's own triple statistic
(:func:`emocirc.circumplex.circular_order_agreement`), two established tests:

RTHOR, the randomisation test of hypothesised order relations
    (Hubert and Arabie 1987; Tracey's RANDALL/RTHOR, the R package RTHORR
    and the Python package ``rthor``).  A circular order predicts order
    relations among distances: two emotions closer on the reference circle
    should also lie closer in the embedding.  Every pair of label pairs whose
    expected circular separations differ gives one prediction; the
    correspondence index is ``CI = (agreements - violations) / predictions``
    (ties count as neither, as in RTHOR), from -1 to 1.  Its p-value is the
    share of relabellings of the observed distance matrix (rows and columns
    permuted together) that satisfy at least as many predictions: every
    permutation when there are few labels (exact), random ones otherwise.
    The ``rthor`` package counts the observed labelling twice and leaves out
    the last permutation, for parity with RTHORR; here every permutation is
    counted once, so the two p-values differ by at most ``1 / n!``
    (tests/test_circular.py checks the rest against ``rthor``).
Circular-circular correlation
    Fisher and Lee's (1983) ``rho_T`` of observed and expected angles,
    ``sum_{i<j} sin(a_i - a_j) sin(b_i - b_j)`` normalised to [-1, 1]: 1 when
    the observed angles are the expected ones turned by any rotation, -1
    when also mirrored.  A principal axis has no preferred sign, so the
    statistic tested is ``|rho_T|``; its p-value is a permutation test of the
    labels, exact for few labels.

What they can detect depends on the number of labels, and is computed,
not assumed (:func:`minimum_p_value`): with ``n`` labels a permutation test
has ``n!`` relabellings and the best possible p-value is the share that
reproduce the hypothesis' own pattern.  Three labels have one circular
order up to rotation and reflection ((n-1)!/2 = 1), so every relabelling
reproduces it: the triple statistic cannot test anything (its p-value is
always 1); RTHOR's three predictions and the circular correlation reach at
best p = 1/6 (when the three expected separations differ), never below
0.05.  Five labels reach 1/120 with these two (1/12 with the triples), six
1/720 (1/60).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError


def circular_separation(a_deg: Any, b_deg: Any) -> np.ndarray:
    """Shortest angle between two directions on the circle, in degrees (0-180).

    Examples
    --------
    >>> circular_separation([10, 350], [350, 90]).tolist()
    [20.0, 100.0]
    """
    d = np.abs(np.asarray(a_deg, dtype=float) - np.asarray(b_deg, dtype=float)) % 360.0
    return np.minimum(d, 360.0 - d)


def _labels(expected: Mapping[str, float], available: Sequence[str]) -> list[str]:
    labels = [k for k in expected if k in available and np.isfinite(expected[k])]
    if len(labels) < 3:
        raise EmocircError(f"circular test: expected at least 3 labels with an expected angle, got {labels}")
    return labels


def hypothesis_ranks(expected: Mapping[str, float], decimals: int = 6) -> np.ndarray:
    """RTHOR's order vector for a circle: the rank of each label pair's expected separation.

    Pairs are in upper-triangle, row-major order (RTHOR's); rank 1 is the
    closest pair, and equal separations (to ``decimals``) share a rank.

    Examples
    --------
    >>> hypothesis_ranks({"a": 0, "b": 60, "c": 120, "d": 180, "e": 240, "f": 300}).tolist()
    [1, 2, 3, 2, 1, 1, 2, 3, 2, 1, 2, 3, 1, 2, 1]
    """
    angles = np.array([float(v) for v in expected.values()])
    seps = np.array(
        [circular_separation(angles[i], angles[j]) for i, j in itertools.combinations(range(len(angles)), 2)]
    ).round(decimals)
    _, ranks = np.unique(seps, return_inverse=True)
    return ranks.ravel() + 1


@dataclass
class RthorResult:
    """Result of :func:`rthor_test`."""

    ci: float
    agreements: int
    ties: int
    predictions: int
    p_value: float
    n_permutations: int
    exact: bool
    labels: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ci": self.ci,
            "agreements": self.agreements,
            "ties": self.ties,
            "predictions": self.predictions,
            "p_value": self.p_value,
            "n_permutations": self.n_permutations,
            "exact": self.exact,
            "labels": list(self.labels),
        }


def _upper(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.triu_indices(len(matrix), 1)]


def _fit(dist_vec: np.ndarray, closer: np.ndarray) -> tuple[int, int]:
    # closer[p, q]: pair p is predicted closer than pair q.
    d_p, d_q = dist_vec[:, None], dist_vec[None, :]
    agree = int(np.sum(closer & (d_p < d_q)))
    ties = int(np.sum(closer & (d_p == d_q)))
    return agree, ties


def _permutations(k: int, n_permutations: int, seed: int) -> tuple[list[np.ndarray], bool]:
    if math.factorial(k) <= n_permutations:
        return [np.array(p) for p in itertools.permutations(range(k))], True
    rng = np.random.default_rng(seed)
    return [rng.permutation(k) for _ in range(n_permutations)], False


def rthor_test(
    distances: pd.DataFrame,
    expected: Mapping[str, float],
    n_permutations: int = 50_000,
    seed: int = 0,
) -> RthorResult:
    """RTHOR's correspondence index of observed distances with a circle of expected angles.

    Parameters
    ----------
    distances:
        Square, symmetric table of distances between emotion centres,
        indexed and columned by label (e.g. Euclidean distances of the
        centroids in the plane, or Mahalanobis distances).
    expected:
        Label -> expected angle (degrees); labels missing from either are
        left out, at least 3 are needed.

    Examples
    --------
    >>> angles = {"a": 0.0, "b": 60.0, "c": 120.0, "d": 180.0, "e": 240.0, "f": 300.0}
    >>> xy = {k: (np.cos(np.radians(v)), np.sin(np.radians(v))) for k, v in angles.items()}
    >>> d = pd.DataFrame({i: {j: float(np.hypot(*np.subtract(xy[i], xy[j]))) for j in xy} for i in xy})
    >>> r = rthor_test(d, angles)
    >>> r.ci, r.predictions, round(r.p_value, 4)
    (1.0, 72, 0.0167)
    """
    if not isinstance(distances, pd.DataFrame) or list(distances.index) != list(distances.columns):
        raise EmocircError("distances: expected a square DataFrame with the same labels as index and columns")
    labels = _labels(expected, [str(c) for c in distances.columns])
    D = distances.loc[labels, labels].to_numpy(dtype=float)
    if not np.all(np.isfinite(D)) or not np.allclose(D, D.T):
        raise EmocircError("distances: expected finite, symmetric distances")
    ranks = hypothesis_ranks({k: expected[k] for k in labels})
    closer = ranks[:, None] < ranks[None, :]
    predictions = int(closer.sum())
    if predictions == 0:
        raise EmocircError(f"expected angles of {labels} are equally far apart: RTHOR has nothing to predict")
    agree, ties = _fit(_upper(D), closer)
    perms, exact = _permutations(len(labels), n_permutations, seed)
    hits = sum(_fit(_upper(D[np.ix_(p, p)]), closer)[0] >= agree for p in perms)
    p_value = hits / len(perms) if exact else (1 + hits) / (1 + len(perms))
    violations = predictions - agree - ties
    return RthorResult(
        ci=(agree - violations) / predictions,
        agreements=agree,
        ties=ties,
        predictions=predictions,
        p_value=float(p_value),
        n_permutations=len(perms),
        exact=exact,
        labels=labels,
    )


def fisher_lee(a_deg: Any, b_deg: Any) -> float:
    """Fisher and Lee's circular-circular correlation ``rho_T`` of paired angles (degrees).

    Examples
    --------
    >>> a = np.array([10.0, 80.0, 200.0, 300.0])
    >>> round(fisher_lee(a, a + 45), 6), round(fisher_lee(a, -a), 6)
    (1.0, -1.0)
    """
    a = np.radians(np.asarray(a_deg, dtype=float).ravel())
    b = np.radians(np.asarray(b_deg, dtype=float).ravel())
    if a.shape != b.shape or a.size < 3:
        raise EmocircError(
            f"fisher_lee: expected two equal-length sets of at least 3 angles, got {a.size}, {b.size}"
        )
    i, j = np.triu_indices(a.size, 1)
    sa, sb = np.sin(a[i] - a[j]), np.sin(b[i] - b[j])
    denom = math.sqrt(float(np.sum(sa**2) * np.sum(sb**2)))
    return float(np.sum(sa * sb) / denom) if denom > 0 else float("nan")


@dataclass
class CircularCorrelation:
    """Result of :func:`circular_correlation_test`."""

    rho: float
    p_value: float
    n_permutations: int
    exact: bool
    labels: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rho": self.rho,
            "p_value": self.p_value,
            "n_permutations": self.n_permutations,
            "exact": self.exact,
            "labels": list(self.labels),
        }


def circular_correlation_test(
    observed: Mapping[str, float],
    expected: Mapping[str, float],
    n_permutations: int = 50_000,
    seed: int = 0,
) -> CircularCorrelation:
    """Fisher-Lee correlation of observed and expected angles, with a permutation p-value.

    ``rho`` keeps its sign (negative: the observed circle turns the other
    way); the test is on ``|rho|``, since a principal axis has no preferred
    sign.  Labels without a finite angle in both are left out.

    Examples
    --------
    >>> exp = {"a": 0.0, "b": 72.0, "c": 144.0, "d": 216.0, "e": 288.0}
    >>> r = circular_correlation_test({k: 90 - v for k, v in exp.items()}, exp)
    >>> round(r.rho, 6), r.exact, r.n_permutations
    (-1.0, True, 120)
    """
    labels = _labels(expected, [k for k in observed if np.isfinite(observed[k])])
    obs = np.array([float(observed[k]) for k in labels])
    exp = np.array([float(expected[k]) for k in labels])
    rho = fisher_lee(obs, exp)
    perms, exact = _permutations(len(labels), n_permutations, seed)
    tol = 1e-12
    hits = sum(abs(fisher_lee(obs[p], exp)) >= abs(rho) - tol for p in perms)
    p_value = hits / len(perms) if exact else (1 + hits) / (1 + len(perms))
    return CircularCorrelation(rho, float(p_value), len(perms), exact, labels)


def minimum_p_value(expected: Mapping[str, float], test: str = "rthor") -> float:
    """The smallest p-value a permutation test can give with these labels (exact tests).

    Computed by feeding the test observations that fit the hypothesis
    perfectly: the centres exactly at their expected angles on a circle.
    ``test`` is ``"rthor"``, ``"circular-correlation"`` or ``"triples"``
    (the project's :func:`emocirc.circumplex.circular_order_agreement`).

    Examples
    --------
    >>> three = {"anger": 98.0, "happiness": 38.0, "sadness": 195.0}
    >>> round(minimum_p_value(three, "rthor"), 3), minimum_p_value(three, "triples")
    (0.167, 1.0)
    """
    labels = [k for k in expected if np.isfinite(expected[k])]
    angles = {k: float(expected[k]) for k in labels}
    if test == "rthor":
        xy = {k: (math.cos(math.radians(v)), math.sin(math.radians(v))) for k, v in angles.items()}
        d = pd.DataFrame(
            {
                i: {j: float(np.hypot(xy[i][0] - xy[j][0], xy[i][1] - xy[j][1])) for j in labels}
                for i in labels
            }
        )
        return rthor_test(d.loc[labels, labels], angles, n_permutations=math.factorial(len(labels))).p_value
    if test == "circular-correlation":
        return circular_correlation_test(angles, angles, n_permutations=math.factorial(len(labels))).p_value
    if test == "triples":
        from emocirc.circumplex import circular_order_agreement

        return circular_order_agreement(angles, angles, n_permutations=math.factorial(len(labels))).p_value
    raise EmocircError(f"test={test!r}: expected 'rthor', 'circular-correlation' or 'triples'")


def centroid_distances(coords: Any, labels: Any) -> pd.DataFrame:
    """Euclidean distances between the emotion centres of 2-D (or wider) coordinates.

    Examples
    --------
    >>> centroid_distances([[0, 0], [0, 0], [3, 4], [3, 4]], ["a", "a", "b", "b"]).loc["a", "b"]
    np.float64(5.0)
    """
    X = np.asarray(coords, dtype=float)
    y = np.asarray(labels).astype(str)
    if X.ndim != 2 or y.shape != (len(X),):
        raise EmocircError(
            f"coords/labels: expected utterances x dims and one label each, got {X.shape}, {y.shape}"
        )
    names = sorted(set(y.tolist()), key=y.tolist().index)
    C = np.stack([X[y == c].mean(axis=0) for c in names])
    D = np.sqrt(np.sum((C[:, None, :] - C[None, :, :]) ** 2, axis=-1))
    return pd.DataFrame(D, index=names, columns=names)
