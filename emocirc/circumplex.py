"""Circumplex statistics: PCA, per-emotion Gaussians, Mahalanobis, polar order, mapping.

The seed report read its findings off PCA plots; this module makes each step
a tested function with uncertainty attached.

Definitions used throughout (``X`` are utterance coordinates, ``y`` labels):

Pooled Mahalanobis distance between emotions ``a`` and ``b``
    ``sqrt((m_a - m_b)^T S^-1 (m_a - m_b))`` with ``m`` the class means and
    ``S`` the pooled within-class covariance
    ``sum_c (n_c - 1) S_c / (N - K)``.  Symmetric, and the natural
    "how many standard deviations apart" of two clusters.
Point-to-distribution Mahalanobis distance
    the form the seed's ellipse figures imply: the mean Mahalanobis distance
    of ``a``'s utterances from ``b``'s Gaussian (``b``'s own mean and full
    covariance), averaged with the same from ``b`` to ``a`` so that it is
    symmetric.  Unlike the pooled form it is not zero for ``a == b``: it is
    then the typical spread of a class (about ``sqrt(dims)``).  Its
    bootstrap is biased upwards (duplicated utterances shrink each class
    covariance), so its interval may sit above the estimate.
Polar coordinates
    each class centroid's radius and angle (degrees, counter-clockwise from
    the first principal axis, in ``[0, 360)``) about an origin: the grand
    mean of all utterances (default) or the neutral centroid.  Only the
    first two dimensions are used, as in the seed's Table 1.
Circular-order agreement
    the share of label triples whose cyclic orientation (counter-clockwise
    or clockwise) is the same in the observed and the expected angles,
    taken as ``max(s, 1 - s)`` so that it depends neither on where the
    circle starts (orientation is rotation invariant) nor on which way it
    turns (a reflection flips every triple).  It lies in ``[0.5, 1]``; its
    p-value is the share of label permutations that score at least as high
    (exact when there are few labels).

The plane of the polar table and the mapping
    the first two principal components by default; any chosen pair of
    components, or the two-dimensional discriminant (LDA) plane of the
    labels, through :class:`EmotionPlane`.  Beside every polar table the
    plane's variance shares are reported, and :func:`order_identifiability`
    states when its angles are too weak to read an order from.

Every interval comes from the speaker bootstrap of :mod:`emocirc.inference`
(speakers, then utterances within them, resampled; the PCA, the plane and
the Gaussians refitted on every resample): see that module's notes.
Functions that take coordinates rather than embeddings
(:func:`mahalanobis_table`, :func:`polar_centroids`) resample the same way
but have nothing to refit; without speaker ids, every utterance is its own
speaker.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import Ridge
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from emocirc.errors import EmocircError
from emocirc.inference import BootstrapResult, Verdict, speaker_bootstrap, verdict, wrap_degrees
from emocirc.labels import label_order
from emocirc.metrics import concordance_correlation  # noqa: F401 (re-exported; the CCC lives in metrics)
from emocirc.russell import REFERENCES, expected_angles, expected_positions, to_rating

#: Origins :func:`polar_centroids` accepts by name.
ORIGINS: tuple[str, ...] = ("grand-mean", "neutral")


# --------------------------------------------------------------------------- validation


def _as_2d(X: Any, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise EmocircError(f"{name}: expected a 2-D array (utterances x dimensions), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise EmocircError(f"{name}: expected finite values, found NaN or infinity")
    return X


def _as_labels(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y).astype(str)
    if y.shape != (n,):
        raise EmocircError(f"labels: expected {n} labels, one per utterance, got shape {y.shape}")
    return y


def _classes(y: np.ndarray, min_classes: int = 2, min_count: int = 2) -> list[str]:
    classes = label_order(np.unique(y).tolist())
    if len(classes) < min_classes:
        raise EmocircError(
            f"labels: expected at least {min_classes} emotions, got {len(classes)} ({', '.join(classes)})"
        )
    for c in classes:
        count = int(np.sum(y == c))
        if count < min_count:
            raise EmocircError(f"label {c!r}: has {count} utterance(s), expected at least {min_count}")
    return classes


# --------------------------------------------------------------------------- PCA


class EmbeddingPCA(TransformerMixin, BaseEstimator):
    """PCA of utterance embeddings, optionally standardised first.

    Fit it on one corpus and ``transform`` another to place both in the same
    space (the seed's IEMOCAP -> EMODB transfer).

    Parameters
    ----------
    n_components:
        Number of principal components kept.
    standardize:
        Scale every embedding dimension to unit variance before the PCA
        (``False``, as in the seed, keeps the encoder's own scale).

    Attributes
    ----------
    explained_variance_ratio_, cumulative_variance_ : ndarray
        Share of variance per component and its running sum.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 5)) * [5, 2, 1, 1, 1]
    >>> pca = EmbeddingPCA(n_components=2).fit(X)
    >>> pca.transform(X).shape
    (50, 2)
    >>> bool(pca.explained_variance_ratio_[0] > 0.5)
    True
    """

    def __init__(self, n_components: int = 3, standardize: bool = False):
        self.n_components = n_components
        self.standardize = standardize

    def fit(self, X: Any, y: Any = None) -> EmbeddingPCA:
        X = _as_2d(X, "embeddings")
        n, d = X.shape
        if not 1 <= self.n_components <= min(n, d):
            raise EmocircError(
                f"n_components={self.n_components}: expected 1..{min(n, d)} "
                f"for {n} utterances of dimension {d} (fewer points than dimensions?)"
            )
        self.scaler_ = StandardScaler(with_std=bool(self.standardize)).fit(X)
        self.pca_ = PCA(n_components=self.n_components, svd_solver="full").fit(self.scaler_.transform(X))
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_.copy()
        self.cumulative_variance_ = np.cumsum(self.explained_variance_ratio_)
        self.n_features_in_ = d
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = _as_2d(X, "embeddings")
        if X.shape[1] != self.n_features_in_:
            raise EmocircError(f"embeddings: expected dimension {self.n_features_in_}, got {X.shape[1]}")
        return self.pca_.transform(self.scaler_.transform(X))


#: Kinds of plane :class:`EmotionPlane` fits.
PLANES: tuple[str, ...] = ("pca", "lda")


class EmotionPlane(TransformerMixin, BaseEstimator):
    """The two-dimensional plane the polar table and the mapping live in.

    Parameters
    ----------
    kind:
        ``"pca"``: two principal components (``components``, the first two
        by default, as the seed); ``"lda"``: the two leading linear
        discriminants of the emotion labels, fitted on the first
        ``n_pre`` principal components (so that it cannot overfit when there
        are fewer utterances than embedding dimensions).  The discriminant
        plane is chosen *for* separating the labels, so its order is not an
        independent finding: it says which order the labels allow at best.
    components:
        The pair of principal components (0-based) of ``kind="pca"``.
    standardize:
        Scale every embedding dimension to unit variance first.

    Attributes
    ----------
    axes_ : ndarray (dimensions x 2)
        Unit-length directions of the plane in the (scaled) embedding space.
    variance_share_ : ndarray (2,)
        Share of the embeddings' total variance along each axis (for a PCA
        plane: the components' explained-variance ratios).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 6)) * [6, 1, 3, 1, 1, 1]
    >>> y = np.repeat(["anger", "sadness", "neutral"], 30)
    >>> plane = EmotionPlane(components=(0, 2)).fit(X)
    >>> plane.transform(X).shape, bool(plane.variance_share_[0] > plane.variance_share_[1])
    ((90, 2), True)
    >>> EmotionPlane(kind="lda").fit(X, y).axes_.shape
    (6, 2)
    """

    def __init__(
        self,
        kind: str = "pca",
        components: tuple[int, int] = (0, 1),
        standardize: bool = False,
        n_pre: int = 10,
    ):
        self.kind = kind
        self.components = components
        self.standardize = standardize
        self.n_pre = n_pre

    def fit(self, X: Any, y: Any = None) -> EmotionPlane:
        X = _as_2d(X, "embeddings")
        if self.kind not in PLANES:
            raise EmocircError(f"plane kind={self.kind!r}: expected one of {', '.join(PLANES)}")
        comps = [int(c) for c in self.components]
        if len(comps) != 2 or comps[0] == comps[1] or min(comps) < 0:
            raise EmocircError(
                f"components={self.components!r}: expected two different component numbers >= 0"
            )
        n, d = X.shape
        if self.kind == "pca":
            pca = EmbeddingPCA(n_components=max(comps) + 1, standardize=self.standardize).fit(X)
            axes = pca.pca_.components_[comps].T
            scaler = pca.scaler_
        else:
            if y is None:
                raise EmocircError("plane kind='lda': expected emotion labels to fit the discriminant plane")
            y = _as_labels(y, n)
            classes = _classes(y, min_classes=3)
            pre = EmbeddingPCA(n_components=min(self.n_pre, n - 1, d), standardize=self.standardize).fit(X)
            Z = pre.transform(X)
            if Z.shape[1] < 2:
                raise EmocircError(
                    f"plane kind='lda': expected at least 2 principal components, got {Z.shape[1]}"
                )
            lda = LinearDiscriminantAnalysis(n_components=min(2, len(classes) - 1)).fit(Z, y)
            axes = pre.pca_.components_.T @ lda.scalings_[:, :2]
            axes = axes / np.linalg.norm(axes, axis=0)
            scaler = pre.scaler_
        self.scaler_ = scaler
        self.axes_ = axes
        S = scaler.transform(X)
        total = float(np.sum(np.var(S, axis=0)))
        self.variance_share_ = np.var(S @ axes, axis=0) / total if total > 0 else np.zeros(2)
        self.n_features_in_ = d
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = _as_2d(X, "embeddings")
        if X.shape[1] != self.n_features_in_:
            raise EmocircError(f"embeddings: expected dimension {self.n_features_in_}, got {X.shape[1]}")
        return self.scaler_.transform(X) @ self.axes_

    def describe(self) -> str:
        """The plane in words, for a caption.

        Examples
        --------
        >>> EmotionPlane(components=(0, 2)).describe()
        'principal components 1 and 3'
        """
        if self.kind == "lda":
            return f"the discriminant (LDA) plane of the labels, fitted on {self.n_pre} principal components"
        a, b = (int(c) + 1 for c in self.components)
        return f"principal components {a} and {b}"


def principal_axes(S: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` leading principal directions of centred data and their shares of its variance.

    The bootstrap's fast path: an eigendecomposition of whichever of the
    Gram (utterances x utterances) or covariance (dims x dims) matrix is
    smaller, for only the ``k`` leading eigenpairs, instead of a full SVD.
    The same directions as :class:`EmbeddingPCA` (up to sign).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 50)) * np.r_[[5.0, 2.0], np.ones(48)]
    >>> S = X - X.mean(axis=0)
    >>> axes, ratio = principal_axes(S, 2)
    >>> ref = EmbeddingPCA(n_components=2).fit(X)
    >>> bool(np.allclose(np.abs(axes.T), np.abs(ref.pca_.components_))), bool(np.allclose(ratio, ref.explained_variance_ratio_))
    (True, True)
    """
    S = np.asarray(S, dtype=float)
    n, d = S.shape
    k = int(k)
    if not 1 <= k <= min(n - 1, d):
        raise EmocircError(f"principal_axes: k={k} outside 1..{min(n - 1, d)} for {n} x {d} data")
    total = float(np.sum(S**2))
    if n < d:
        w, u = linalg.eigh(S @ S.T, subset_by_index=[n - k, n - 1])
        w, u = w[::-1], u[:, ::-1]
        axes = S.T @ u / np.sqrt(np.maximum(w, 1e-300))
    else:
        w, axes = linalg.eigh(S.T @ S, subset_by_index=[d - k, d - 1])
        w, axes = w[::-1], axes[:, ::-1]
    return axes, (w / total if total > 0 else np.zeros(k))


def _align_axes(axes: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Signs (+1/-1) that turn each column of ``axes`` towards the same column of ``reference``."""
    signs = np.sign(np.sum(axes * reference, axis=0))
    return np.where(signs == 0, 1.0, signs)


# --------------------------------------------------------------------------- Gaussians


class EmotionGaussians(BaseEstimator):
    """One full-covariance Gaussian per emotion (scikit-learn ``GaussianMixture``).

    Parameters
    ----------
    reg_covar:
        Added to each covariance's diagonal, so that a small class stays
        invertible.
    random_state:
        Seed of the mixture fits (a single component converges in one step,
        so it only matters for reproducibility's sake).

    Attributes
    ----------
    classes_ : list of str
    means_ : ndarray (classes x dims)
    covariances_ : ndarray (classes x dims x dims)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(5, 1, (40, 2))])
    >>> y = ["anger"] * 40 + ["sadness"] * 40
    >>> g = EmotionGaussians().fit(X, y)
    >>> g.classes_
    ['anger', 'sadness']
    >>> g.predict([[5.0, 5.0]]).tolist()
    ['sadness']
    """

    def __init__(self, reg_covar: float = 1e-6, random_state: int = 0):
        self.reg_covar = reg_covar
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> EmotionGaussians:
        X = _as_2d(X)
        y = _as_labels(y, len(X))
        self.classes_ = _classes(y, min_classes=1)
        self.models_ = {}
        for c in self.classes_:
            gm = GaussianMixture(
                n_components=1,
                covariance_type="full",
                reg_covar=self.reg_covar,
                random_state=self.random_state,
            )
            self.models_[c] = gm.fit(X[y == c])
        self.means_ = np.stack([self.models_[c].means_[0] for c in self.classes_])
        self.covariances_ = np.stack([self.models_[c].covariances_[0] for c in self.classes_])
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-density of each utterance under each emotion's Gaussian (utterances x classes)."""
        X = _as_2d(X)
        return np.column_stack([self.models_[c].score_samples(X) for c in self.classes_])

    def predict(self, X: Any) -> np.ndarray:
        """The emotion whose Gaussian gives each utterance the highest density."""
        return np.asarray(self.classes_)[np.argmax(self.score_samples(X), axis=1)]

    def mahalanobis(self, X: Any) -> np.ndarray:
        """Mahalanobis distance of each utterance from each emotion's Gaussian (utterances x classes)."""
        X = _as_2d(X)
        return np.column_stack(
            [_mahalanobis_points(X, m, S) for m, S in zip(self.means_, self.covariances_, strict=True)]
        )


def _mahalanobis_points(X: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    diff = X - mean
    sol = np.linalg.solve(cov, diff.T).T
    return np.sqrt(np.maximum(np.sum(diff * sol, axis=1), 0.0))


def pooled_covariance(X: Any, y: Any) -> np.ndarray:
    """Pooled within-class covariance ``sum_c (n_c - 1) S_c / (N - K)``.

    Examples
    --------
    >>> X = np.array([[0.0, 0], [2, 0], [10, 0], [12, 2]])
    >>> pooled_covariance(X, ["a", "a", "b", "b"]).round(2).tolist()
    [[2.0, 1.0], [1.0, 1.0]]
    """
    X = _as_2d(X)
    y = _as_labels(y, len(X))
    classes = _classes(y, min_classes=1)
    return _pooled(X, y, classes)


def _pooled(X: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    d = X.shape[1]
    scatter = np.zeros((d, d))
    for c in classes:
        Xc = X[y == c]
        diff = Xc - Xc.mean(axis=0)
        scatter += diff.T @ diff
    dof = len(X) - len(classes)
    if dof <= 0:
        raise EmocircError(
            f"pooled covariance: {len(X)} utterances in {len(classes)} classes leave no degrees of freedom"
        )
    return scatter / dof


def _centroids(X: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    return np.stack([X[y == c].mean(axis=0) for c in classes])


def _pairwise(X: np.ndarray, y: np.ndarray, classes: Sequence[str], form: str, reg: float) -> np.ndarray:
    k = len(classes)
    means = _centroids(X, y, classes)
    if form == "pooled":
        S = _pooled(X, y, classes) + reg * np.eye(X.shape[1])
        inv = np.linalg.inv(S)
        diff = means[:, None, :] - means[None, :, :]
        out = np.sqrt(np.maximum(np.einsum("ijk,kl,ijl->ij", diff, inv, diff), 0.0))
    else:
        covs = []
        for c in classes:
            Xc = X[y == c]
            # MLE covariance plus reg_covar: what GaussianMixture(n_components=1) fits.
            covs.append(
                np.cov(Xc, rowvar=False, bias=True).reshape(X.shape[1], X.shape[1]) + reg * np.eye(X.shape[1])
            )
        mean_dist = np.zeros((k, k))  # [i, j]: mean distance of i's points from j's Gaussian
        for j in range(k):
            # Every point against Gaussian j once, then averaged per class (the bootstrap's hot loop).
            dist = _mahalanobis_points(X, means[j], covs[j])
            for i, ci in enumerate(classes):
                mean_dist[i, j] = dist[y == ci].mean()
        out = 0.5 * (mean_dist + mean_dist.T)
    return out


def mahalanobis_matrix(X: Any, y: Any, form: str = "pooled", reg_covar: float = 1e-6) -> pd.DataFrame:
    """Mahalanobis distances between every pair of emotions (classes x classes).

    Parameters
    ----------
    form:
        ``"pooled"`` (class means under the pooled covariance) or ``"point"``
        (utterances from the other class's Gaussian); see the module notes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (500, 2)), rng.normal([3, 0], 1, (500, 2))])
    >>> m = mahalanobis_matrix(X, ["a"] * 500 + ["b"] * 500)
    >>> bool(abs(m.loc["a", "b"] - 3) < 0.2), float(m.loc["a", "a"])
    (True, 0.0)
    """
    X = _as_2d(X)
    y = _as_labels(y, len(X))
    if form not in ("pooled", "point"):
        raise EmocircError(f"form={form!r}: expected 'pooled' or 'point'")
    classes = _classes(y)
    return pd.DataFrame(_pairwise(X, y, classes, form, reg_covar), index=classes, columns=classes)


def _check_resample(y: np.ndarray, classes: Sequence[str], min_count: int = 2) -> None:
    for c in classes:
        if int(np.sum(y == c)) < min_count:
            raise EmocircError(f"resample: label {c!r} has fewer than {min_count} utterances")


def mahalanobis_table(
    X: Any,
    y: Any,
    form: str = "pooled",
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    reg_covar: float = 1e-6,
    speakers: Any = None,
) -> pd.DataFrame:
    """Pairwise Mahalanobis distances with seeded bootstrap intervals, one row per pair.

    Columns ``a``, ``b``, ``distance``, ``ci_low``, ``ci_high``: percentile
    intervals of ``n_boot`` speaker-bootstrap resamples
    (:func:`emocirc.inference.speaker_bootstrap`; every utterance its own
    speaker when ``speakers`` is None; NaN when ``n_boot`` is 0).  The
    coordinates are taken as given: :func:`analyze` refits the PCA as well.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal([4, 0], 1, (200, 2))])
    >>> t = mahalanobis_table(X, ["a"] * 200 + ["b"] * 200, n_boot=50)
    >>> row = t.iloc[0]
    >>> bool(row.ci_low < 4 < row.ci_high), round(float(row.distance))
    (True, 4)
    """
    X = _as_2d(X)
    y = _as_labels(y, len(X))
    if form not in ("pooled", "point"):
        raise EmocircError(f"form={form!r}: expected 'pooled' or 'point'")
    if not 0 < ci < 1:
        raise EmocircError(f"ci={ci}: expected a coverage strictly between 0 and 1")
    classes = _classes(y)
    pairs = list(itertools.combinations(range(len(classes)), 2))
    rows_i, cols_j = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])

    def stat(idx: np.ndarray) -> np.ndarray:
        _check_resample(y[idx], classes)
        return _pairwise(X[idx], y[idx], classes, form, reg_covar)[rows_i, cols_j]

    point = stat(np.arange(len(X)))
    lo = hi = np.full(len(pairs), np.nan)
    if n_boot:
        res = speaker_bootstrap(
            stat, speakers, n_resamples=int(n_boot), confidence_level=ci, seed=seed, n=len(X)
        )
        lo, hi = res.low, res.high
    return pd.DataFrame(
        {
            "a": [classes[i] for i in rows_i],
            "b": [classes[j] for j in cols_j],
            "distance": point.astype(float),
            "ci_low": lo.astype(float),
            "ci_high": hi.astype(float),
        },
        columns=["a", "b", "distance", "ci_low", "ci_high"],
    )


# --------------------------------------------------------------------------- polar order


def _origin(X: np.ndarray, y: np.ndarray, origin: str | Sequence[float]) -> np.ndarray:
    if isinstance(origin, str):
        if origin == "grand-mean":
            return X.mean(axis=0)
        if origin == "neutral":
            if not np.any(y == "neutral"):
                raise EmocircError("origin='neutral': expected utterances labelled 'neutral', found none")
            return X[y == "neutral"].mean(axis=0)
        raise EmocircError(f"origin={origin!r}: expected one of {', '.join(ORIGINS)} or coordinates")
    point = np.asarray(origin, dtype=float)
    if point.shape != (X.shape[1],):
        raise EmocircError(f"origin: expected {X.shape[1]} coordinates, got shape {point.shape}")
    return point


def _polar(
    X2: np.ndarray, y: np.ndarray, classes: Sequence[str], origin: str | Sequence[float]
) -> np.ndarray:
    rel = _centroids(X2, y, classes) - _origin(X2, y, origin)
    radius = np.hypot(rel[:, 0], rel[:, 1])
    angle = np.rad2deg(np.arctan2(rel[:, 1], rel[:, 0])) % 360.0
    # A centroid at the origin (neutral about itself) has no direction.
    angle = np.where(radius < 1e-12, np.nan, angle)
    return np.column_stack([rel, radius, angle])


def polar_centroids(
    X: Any,
    y: Any,
    origin: str | Sequence[float] = "grand-mean",
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    speakers: Any = None,
) -> pd.DataFrame:
    """Class centroids in polar coordinates, in ascending angle: the seed's Table 1.

    Parameters
    ----------
    X:
        Utterance coordinates; only the first two columns are used.
    origin:
        ``"grand-mean"`` (mean of all utterances), ``"neutral"`` (the
        neutral centroid, which then has radius 0 and no angle) or explicit
        coordinates.
    n_boot:
        Speaker-bootstrap resamples (:mod:`emocirc.inference`; every
        utterance its own speaker when ``speakers`` is None) for the
        ``radius_low/high`` and ``angle_low/high`` percentile intervals; 0
        leaves them out.  The angle interval is taken on the deviations from
        the observed angle wrapped to ``[-180, 180)``, so it straddles 0
        degrees correctly.

    Returns
    -------
    DataFrame indexed by label with ``x``, ``y``, ``radius``, ``angle_deg``
    (degrees counter-clockwise in ``[0, 360)``), sorted by angle; a label
    without an angle comes last.

    Examples
    --------
    >>> X = np.array([[2.0, 0], [2, 0.2], [0, -3], [0, -3.2]])
    >>> p = polar_centroids(X, ["a", "a", "b", "b"], origin=[0, 0])
    >>> p[["radius", "angle_deg"]].round(1).values.tolist()
    [[2.0, 2.9], [3.1, 270.0]]
    """
    X = _as_2d(X)
    if X.shape[1] < 2:
        raise EmocircError(f"polar_centroids: expected at least 2 dimensions, got {X.shape[1]}")
    y = _as_labels(y, len(X))
    classes = _classes(y, min_classes=1, min_count=1)
    X2 = X[:, :2]
    origin2 = origin if isinstance(origin, str) else np.asarray(origin, dtype=float)[:2]
    base = _polar(X2, y, classes, origin2)
    table = pd.DataFrame(
        base, index=pd.Index(classes, name="label"), columns=["x", "y", "radius", "angle_deg"]
    )
    if n_boot:
        k = len(classes)

        def stat(idx: np.ndarray) -> np.ndarray:
            _check_resample(y[idx], classes, min_count=1)
            p = _polar(X2[idx], y[idx], classes, origin2)
            return np.concatenate([p[:, 2], wrap_degrees(p[:, 3] - base[:, 3])])

        res = speaker_bootstrap(
            stat, speakers, n_resamples=int(n_boot), confidence_level=ci, seed=seed, n=len(X)
        )
        table["radius_low"], table["radius_high"] = res.low[:k], res.high[:k]
        table["angle_low"] = base[:, 3] + res.low[k:]
        table["angle_high"] = base[:, 3] + res.high[k:]
    return table.sort_values("angle_deg", na_position="last", kind="stable")


def angular_order(polar: pd.DataFrame) -> list[str]:
    """Labels by ascending angle, leaving out any without an angle.

    Examples
    --------
    >>> angular_order(pd.DataFrame({"angle_deg": [200.0, 10.0, np.nan]}, index=["b", "a", "neutral"]))
    ['a', 'b']
    """
    finite = polar[np.isfinite(polar["angle_deg"].to_numpy(dtype=float))]
    return [str(k) for k in finite.sort_values("angle_deg", kind="stable").index]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts for JSON, NaN as None (JSON has no NaN)."""
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


#: The second axis must hold at least this share of the plane's variance
#: (axis 2 over axes 1 + 2) before angles on it are read as an order.
MIN_SECOND_SHARE = 0.10


@dataclass
class OrderCheck:
    """Whether a polar table's angular order can be read (:func:`order_identifiability`)."""

    identifiable: bool
    second_share: float
    min_second_share: float
    gaps: pd.DataFrame
    reasons: list[str]

    def sentence(self) -> str:
        """The verdict in words, for the page."""
        if self.identifiable:
            return (
                f"The order is identifiable: the second axis holds {self.second_share:.0%} of the plane's "
                "variance and every pair of neighbouring centres is resolved by its interval."
            ).replace("%", " %")
        return "Order not identifiable: " + "; ".join(self.reasons) + "."

    def to_dict(self) -> dict[str, Any]:
        return {
            "identifiable": self.identifiable,
            "second_share": self.second_share,
            "min_second_share": self.min_second_share,
            "gaps": _records(self.gaps),
            "reasons": list(self.reasons),
        }


def order_identifiability(
    angles: Mapping[str, float],
    variance_share: Sequence[float],
    deviations: Any = None,
    min_second_share: float = MIN_SECOND_SHARE,
    confidence_level: float = 0.95,
) -> OrderCheck:
    """Decide whether the circular order of emotion centres on a plane means anything.

    The rule, stated once for the book: the order is read only when both
    hold.

    1. The plane is a plane: its second axis holds at least
       ``min_second_share`` (10 %) of the variance of the two axes.  Below
       it the centres lie nearly on a line, their angles collapse towards
       0 and 180 degrees, and their order among themselves rests on a
       direction that carries a tenth or less of the variance (a standard
       deviation a third of the first axis's), however precisely it is
       estimated.
    2. Every pair of neighbours is resolved: for each two centres adjacent
       on the circle, the speaker-bootstrap interval of the angle from one
       to the next lies above 0, i.e. the resamples do not swap them.  An
       order in which neighbours swap under resampling is not a finding.

    Parameters
    ----------
    angles:
        Label -> angle (degrees) of each centre; labels without a finite
        angle (neutral about itself) are left out.
    variance_share:
        The plane's two axes' shares of the variance (any common scale).
    deviations:
        Resamples x labels (in ``angles``' order) of each centre's angle
        minus its estimate, wrapped to ``[-180, 180)``; None skips test 2
        (the check then fails for want of intervals).

    Examples
    --------
    >>> angles = {"a": 10.0, "b": 120.0, "c": 250.0}
    >>> dev = np.random.default_rng(0).normal(0, 5, (200, 3))
    >>> order_identifiability(angles, [0.6, 0.3], dev).identifiable
    True
    >>> order_identifiability(angles, [0.92, 0.02], dev).sentence()[:28]
    'Order not identifiable: the '
    """
    share = np.asarray(variance_share, dtype=float)
    if share.shape != (2,) or not np.all(share >= 0) or share.sum() <= 0:
        raise EmocircError(f"variance_share: expected two non-negative shares, got {share.tolist()}")
    second = float(share[1] / share.sum())
    labels = [k for k in angles if np.isfinite(angles[k])]
    cols = [i for i, k in enumerate(angles) if np.isfinite(angles[k])]
    reasons: list[str] = []
    if second < min_second_share:
        reasons.append(
            f"the second axis holds {second:.1%} of the plane's variance, below {min_second_share:.0%}"
        )
    rows = []
    if len(labels) < 3:
        reasons.append(f"{len(labels)} centres with an angle, fewer than the 3 an order needs")
    else:
        est = np.array([float(angles[k]) for k in labels])
        order = np.argsort(est, kind="stable")
        dev = None if deviations is None else np.asarray(deviations, dtype=float)[:, cols]
        if dev is None:
            reasons.append("no bootstrap intervals of the angles to resolve neighbours")
        alpha = (1 - confidence_level) / 2
        for pos, i in enumerate(order):
            j = order[(pos + 1) % len(order)]
            gap = float((est[j] - est[i]) % 360.0)
            lo = hi = float("nan")
            if dev is not None:
                values = gap + dev[:, j] - dev[:, i]
                values = values[np.isfinite(values)]
                if values.size:
                    lo, hi = (float(v) for v in np.quantile(values, [alpha, 1 - alpha]))
            rows.append(
                {
                    "from": labels[i],
                    "to": labels[j],
                    "gap_deg": gap,
                    "ci_low": lo,
                    "ci_high": hi,
                    "resolved": str(verdict(lo, hi)),
                }
            )
        unresolved = [f"{r['from']}-{r['to']}" for r in rows if r["resolved"] != str(Verdict.HOLDS)]
        if dev is not None and unresolved:
            reasons.append(f"neighbours not resolved by their intervals: {', '.join(unresolved)}")
    gaps = pd.DataFrame(rows, columns=["from", "to", "gap_deg", "ci_low", "ci_high", "resolved"])
    return OrderCheck(not reasons, second, float(min_second_share), gaps, reasons)


@dataclass
class OrderAgreement:
    """Result of :func:`circular_order_agreement`."""

    statistic: float
    p_value: float
    labels: list[str]
    reflected: bool
    n_permutations: int
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "labels": list(self.labels),
            "reflected": self.reflected,
            "n_permutations": self.n_permutations,
            "exact": self.exact,
        }


def _orientations(angles: np.ndarray, triples: np.ndarray) -> np.ndarray:
    a, b, c = angles[triples[:, 0]], angles[triples[:, 1]], angles[triples[:, 2]]
    # Going counter-clockwise from a, is b met before c?
    return ((b - a) % 360.0) < ((c - a) % 360.0)


def circular_order_agreement(
    observed: Mapping[str, float],
    expected: Mapping[str, float],
    n_permutations: int = 9999,
    seed: int = 0,
) -> OrderAgreement:
    """Agreement of two circular orders, invariant to rotation and reflection.

    The statistic is ``max(s, 1 - s)`` where ``s`` is the share of label
    triples with the same cyclic orientation in both; 1 means the same
    circular order (possibly turning the other way), about 0.5 none.  The
    p-value is the share of relabellings of the observed angles scoring at
    least as high: every permutation when there are no more than
    ``n_permutations`` of them (exact), otherwise ``n_permutations`` random
    ones, ``(1 + hits) / (1 + n)``.

    Only labels with a finite angle in both mappings are compared (neutral
    has none); at least three are needed.

    Examples
    --------
    >>> expected = {"a": 0, "b": 90, "c": 180, "d": 270}
    >>> r = circular_order_agreement({"a": 100, "b": 190, "c": 280, "d": 10}, expected)
    >>> r.statistic, r.reflected
    (1.0, False)
    >>> circular_order_agreement({"a": 0, "b": 270, "c": 180, "d": 90}, expected).reflected
    True
    """
    labels = [k for k in expected if k in observed and np.isfinite(observed[k]) and np.isfinite(expected[k])]
    if len(labels) < 3:
        raise EmocircError(
            f"circular order: expected at least 3 labels with an angle in both orders, got {labels}"
        )
    obs = np.array([float(observed[k]) for k in labels])
    exp = np.array([float(expected[k]) for k in labels])
    triples = np.array(list(itertools.combinations(range(len(labels)), 3)))
    ref = _orientations(exp, triples)

    def stat(angles: np.ndarray) -> tuple[float, bool]:
        s = float(np.mean(_orientations(angles, triples) == ref))
        return max(s, 1.0 - s), s < 0.5

    value, reflected = stat(obs)
    k = len(labels)
    tol = 1e-12
    if math.factorial(k) <= n_permutations:
        perms = itertools.permutations(range(k))
        scores = [stat(obs[list(p)])[0] for p in perms]
        p_value = float(np.mean(np.array(scores) >= value - tol))
        n_used, exact = len(scores), True
    else:
        rng = np.random.default_rng(seed)
        hits = sum(stat(obs[rng.permutation(k)])[0] >= value - tol for _ in range(n_permutations))
        p_value = (1 + hits) / (1 + n_permutations)
        n_used, exact = int(n_permutations), False
    return OrderAgreement(value, p_value, labels, reflected, n_used, exact)


# --------------------------------------------------------------------------- automatic mapping


class CircumplexMapping(BaseEstimator):
    """Procrustes map of emotion centroids onto expected valence-arousal positions.

    ``fit`` takes two-dimensional utterance coordinates (only the first two
    columns of a wider array) and their labels, computes each class centroid
    and finds the translation, rotation, optional reflection and optional
    scale that bring the centroids closest (least squares) to the
    reference's positions (:func:`emocirc.russell.expected_positions`; labels
    the reference does not cover are left out of the fit).  ``transform``
    then puts every utterance on the valence-arousal plane, in the
    reference's -1..1 units (:func:`emocirc.russell.to_rating` converts).

    Parameters
    ----------
    reference:
        ``"russell"`` or ``"nrc-vad"``, or a mapping label -> (valence, arousal).
    reflection:
        Allow a mirror image (the sign of a principal axis is arbitrary).
    scale:
        Fit a scale factor as well.

    Attributes
    ----------
    rotation_deg_, reflection_, scale_, disparity_ :
        The fitted rotation (degrees counter-clockwise, applied after the
        reflection about the first axis when ``reflection_``), whether a
        reflection was used, the scale, and the residual sum of squares over
        the targets' total sum of squares about their mean.
    labels_ : list of str
        The labels the fit used; ``centroids_`` and ``targets_`` follow it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> targets = {"anger": (-1.0, 1.0), "sadness": (-1.0, -1.0), "happiness": (1.0, 0.5)}
    >>> clockwise = lambda v: 3 * np.array([v[1], -v[0]])  # turn 90 degrees clockwise, triple
    >>> X = np.vstack([clockwise(v) + rng.normal(0, 0.1, (30, 2)) for v in targets.values()])
    >>> y = np.repeat(list(targets), 30)
    >>> m = CircumplexMapping(reference=targets).fit(X, y)
    >>> round(m.rotation_deg_), m.reflection_, round(m.scale_, 2)
    (90, False, 0.33)
    """

    def __init__(
        self,
        reference: str | Mapping[str, Sequence[float]] = "russell",
        reflection: bool = True,
        scale: bool = True,
    ):
        self.reference = reference
        self.reflection = reflection
        self.scale = scale

    def _targets(self, classes: Sequence[str]) -> pd.DataFrame:
        if isinstance(self.reference, str):
            return expected_positions(classes, self.reference)[["valence", "arousal"]]
        rows = {c: tuple(self.reference[c]) if c in self.reference else (np.nan, np.nan) for c in classes}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["valence", "arousal"])

    def fit(self, X: Any, y: Any) -> CircumplexMapping:
        X = _as_2d(X)
        if X.shape[1] < 2:
            raise EmocircError(f"CircumplexMapping: expected at least 2 dimensions, got {X.shape[1]}")
        y = _as_labels(y, len(X))
        classes = _classes(y, min_classes=2, min_count=1)
        targets = self._targets(classes)
        usable = [c for c in classes if np.all(np.isfinite(targets.loc[c].to_numpy(dtype=float)))]
        if len(usable) < 3:
            raise EmocircError(
                f"CircumplexMapping: expected at least 3 labels with a reference position, got {usable} "
                f"(reference {self.reference!r})"
            )
        A = _centroids(X[:, :2], y, usable)
        B = targets.loc[usable].to_numpy(dtype=float)
        mu_a, mu_b = A.mean(axis=0), B.mean(axis=0)
        A0, B0 = A - mu_a, B - mu_b
        U, S, Vt = np.linalg.svd(A0.T @ B0)
        if not self.reflection and np.linalg.det(U @ Vt) < 0:
            U[:, -1] *= -1
            S[-1] *= -1
        R = U @ Vt
        s = float(S.sum() / np.sum(A0**2)) if self.scale else 1.0
        self.labels_ = list(usable)
        self.centroids_ = A
        self.targets_ = B
        self.rotation_ = R
        self.scale_ = s
        self.mean_in_ = mu_a
        self.mean_out_ = mu_b
        self.reflection_ = bool(np.linalg.det(R) < 0)
        # Row vectors: R = F @ Rot(theta), F = diag(1, -1) when reflected.
        rot = np.diag([1.0, -1.0]) @ R if self.reflection_ else R
        self.rotation_deg_ = float(np.rad2deg(np.arctan2(rot[0, 1], rot[0, 0])))
        fitted = s * A0 @ R + mu_b
        self.disparity_ = float(np.sum((fitted - B) ** 2) / np.sum(B0**2))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Valence (column 0) and arousal (column 1) of each utterance, reference units."""
        X = _as_2d(X)
        return self.scale_ * (X[:, :2] - self.mean_in_) @ self.rotation_ + self.mean_out_

    def centroid_positions(self) -> dict[str, list[float]]:
        """Where the map puts each fitted emotion centre: label -> ``[valence, arousal]``."""
        return dict(zip(self.labels_, self.transform(self.centroids_).tolist(), strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rotation_deg": self.rotation_deg_,
            "reflection": self.reflection_,
            "scale": self.scale_,
            "disparity": self.disparity_,
            "labels": self.labels_,
        }


def ridge_valence_arousal(alpha: float = 1.0):
    """The supervised alternative: standardise, then ridge regression to (valence, arousal).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4))
    >>> Y = X[:, :2] * [1, -2] + 3
    >>> model = ridge_valence_arousal(alpha=0.1).fit(X, Y)
    >>> round(concordance_correlation(Y[:, 0], model.predict(X)[:, 0]), 2)
    1.0
    """
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))


def speaker_independent_ccc(
    X: Any,
    labels: Any,
    valence: Any,
    arousal: Any,
    speakers: Any,
    method: str = "procrustes",
    n_components: int = 2,
    reference: str = "russell",
    alpha: float = 1.0,
    scale: tuple[float, float] = (1.0, 5.0),
    max_folds: int = 10,
    target: str = "ratings",
) -> dict[str, Any]:
    """Score a valence-arousal mapping by CCC on speakers it never saw.

    ``target`` is what the predictions are scored against: ``"ratings"``
    (the corpus's valence and arousal ratings) or ``"reference"`` (each
    utterance's label placed where ``reference`` puts it, on ``scale``; the
    score of a map fitted and scored against one and the same reference).
    The ridge regression is trained on the same target it is scored on.

    Speakers are held out one at a time (grouped into ``max_folds`` folds
    when there are more).  ``"procrustes"`` fits a PCA and the
    :class:`CircumplexMapping` on the training speakers' embeddings and
    emotion labels only, projects the held-out speakers and maps reference
    units onto ``scale`` (IEMOCAP's 1-5); it never sees a valence or arousal
    rating.  ``"ridge"`` is the supervised alternative, trained on the
    training speakers' ratings.  Predictions of all folds are pooled before
    the CCC is computed.

    Returns
    -------
    dict with ``valence`` and ``arousal`` (pooled CCC), ``folds`` (number),
    ``method``, ``target``, ``predictions`` (utterances x 2, NaN where not
    predicted) and ``truth`` (utterances x 2, what was scored against).
    """
    X = _as_2d(X, "embeddings")
    y = _as_labels(labels, len(X))
    va = np.column_stack([np.asarray(valence, dtype=float), np.asarray(arousal, dtype=float)])
    groups = _as_labels(speakers, len(X))
    if va.shape != (len(X), 2):
        raise EmocircError(f"valence/arousal: expected {len(X)} values each, got shape {va.shape}")
    if method not in ("procrustes", "ridge"):
        raise EmocircError(f"method={method!r}: expected 'procrustes' or 'ridge'")
    if target not in ("ratings", "reference"):
        raise EmocircError(f"target={target!r}: expected 'ratings' or 'reference'")
    if target == "reference":
        va = reference_targets(y, reference, scale)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise EmocircError(
            f"speakers: expected at least 2 speakers for speaker-independent scoring, got {n_groups}"
        )
    splitter = LeaveOneGroupOut() if n_groups <= max_folds else GroupKFold(n_splits=max_folds)
    pred = np.full((len(X), 2), np.nan)
    with threadpool_limits(limits=1):  # small fits; see analyze
        for train, test in splitter.split(X, groups=groups):
            if method == "procrustes":
                pca = EmbeddingPCA(n_components=n_components).fit(X[train])
                mapping = CircumplexMapping(reference=reference).fit(pca.transform(X[train]), y[train])
                pred[test] = to_rating(mapping.transform(pca.transform(X[test])), scale)
            else:
                ok = train[np.all(np.isfinite(va[train]), axis=1)]
                if len(ok) < 2:
                    raise EmocircError("ridge: expected training utterances with finite valence and arousal")
                pred[test] = ridge_valence_arousal(alpha).fit(X[ok], va[ok]).predict(X[test])
    return {
        "method": method,
        "valence": concordance_correlation(va[:, 0], pred[:, 0]),
        "arousal": concordance_correlation(va[:, 1], pred[:, 1]),
        "folds": int(splitter.get_n_splits(X, groups=groups)),
        "predictions": pred,
        "target": target,
        "truth": va,
    }


def reference_targets(
    labels: Any, reference: str = "russell", scale: tuple[float, float] = (1.0, 5.0)
) -> np.ndarray:
    """Each utterance's label at its reference position on a rating scale (utterances x 2).

    Labels the reference does not place (disgust under Russell's) are NaN.

    Examples
    --------
    >>> reference_targets(["neutral", "disgust"]).tolist()
    [[3.0, 3.0], [nan, nan]]
    """
    y = np.asarray(labels).astype(str).ravel()
    classes = sorted(set(y.tolist()))
    pos = expected_positions(classes, reference)[["valence", "arousal"]]
    return to_rating(pos.loc[y].to_numpy(dtype=float), scale)


# --------------------------------------------------------------------------- analyze


@dataclass
class Analysis:
    """Everything :func:`analyze` computes; ``to_dict()`` is ``analysis.json``."""

    layer: int | None
    dims: int
    origin: str
    reference: str
    labels: np.ndarray
    coords: np.ndarray
    pca: EmbeddingPCA
    gaussians: EmotionGaussians
    mahalanobis: pd.DataFrame
    mahalanobis_point: pd.DataFrame
    polar: pd.DataFrame
    order: list[str]
    order_agreement: OrderAgreement | None
    mapping: CircumplexMapping | None
    projected: np.ndarray | None
    ccc: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plane: EmotionPlane | None = None
    plane_coords: np.ndarray | None = None
    variance_share: pd.DataFrame | None = None
    order_check: OrderCheck | None = None
    bootstrap: BootstrapResult | None = None

    def distance_contrast(
        self, first: tuple[str, str], second: tuple[str, str], form: str = "pooled"
    ) -> dict[str, Any]:
        """The claim "``first`` pair is farther apart than ``second``", judged by its interval.

        The difference of the two distances and its percentile interval over
        the same speaker-bootstrap resamples, with the :func:`verdict`.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> centres = {"anger": (6, 0), "boredom": (-6, 0), "sadness": (-5, 1)}
        >>> X = np.vstack([np.array(c) + rng.normal(0, 1, (30, 2)) for c in centres.values()])
        >>> feats = {"embeddings": X, "labels": np.repeat(list(centres), 30), "speakers": np.tile(np.arange(6), 15)}
        >>> c = analyze(feats, n_boot=50).distance_contrast(("anger", "boredom"), ("sadness", "boredom"))
        >>> c["verdict"]
        'holds'
        """
        return self._claim(
            lambda v: self._distance(v, first, form) - self._distance(v, second, form),
            f"{first[0]}-{first[1]} farther than {second[0]}-{second[1]}",
        )

    def nearest_claim(self, label: str, candidate: str, form: str = "pooled") -> dict[str, Any]:
        """The claim "``candidate`` is the emotion nearest to ``label``", judged by its interval.

        The quantity is the distance from ``label`` to its nearest other
        emotion minus the distance to ``candidate`` (positive when the claim
        holds), over the same resamples.
        """
        others = [c for c in self.gaussians.classes_ if c not in (label, candidate)]
        if label not in self.gaussians.classes_ or candidate not in self.gaussians.classes_ or not others:
            raise EmocircError(
                f"nearest_claim: expected two labels among {self.gaussians.classes_} and a third to compare"
            )
        return self._claim(
            lambda v: (
                min(self._distance(v, (label, o), form) for o in others)
                - self._distance(v, (label, candidate), form)
            ),
            f"{candidate} nearest to {label}",
        )

    def _distance(self, vector: np.ndarray, pair: tuple[str, str], form: str) -> float:
        names = self.bootstrap.names if self.bootstrap is not None else None
        if names is None:
            raise EmocircError("distance claims need bootstrap resamples: rerun analyze with n_boot > 0")
        a, b = pair
        for key in (f"{form}:{a}|{b}", f"{form}:{b}|{a}"):
            if key in names:
                return float(vector[names.index(key)])
        raise EmocircError(f"pair {a!r}-{b!r}: expected two different labels among {self.gaussians.classes_}")

    def _claim(self, fn: Any, claim: str) -> dict[str, Any]:
        if self.bootstrap is None:
            raise EmocircError("distance claims need bootstrap resamples: rerun analyze with n_boot > 0")
        est, lo, hi = self.bootstrap.derived(fn)
        return {
            "claim": claim,
            "difference": est,
            "ci_low": lo,
            "ci_high": hi,
            "verdict": str(verdict(lo, hi)),
        }

    def centroids(self) -> dict[str, list[float]]:
        return {c: m.tolist() for c, m in zip(self.gaussians.classes_, self.gaussians.means_, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        polar = {
            str(k): {
                key: (None if not np.isfinite(v) else float(v))
                for key, v in row.items()
                if key not in ("x", "y")
            }
            for k, row in self.polar.iterrows()
        }
        return {
            "layer": self.layer,
            "dims": self.dims,
            "origin": self.origin,
            "reference": self.reference,
            "n_utterances": int(len(self.labels)),
            "counts": {c: int(np.sum(self.labels == c)) for c in self.gaussians.classes_},
            "explained_variance_ratio": self.pca.explained_variance_ratio_.tolist(),
            "centroids": self.centroids(),
            "mahalanobis": self.mahalanobis.to_dict(orient="records"),
            "mahalanobis_point": self.mahalanobis_point.to_dict(orient="records"),
            "polar": polar,
            "order": self.order,
            "order_agreement": None if self.order_agreement is None else self.order_agreement.to_dict(),
            "procrustes": None if self.mapping is None else self.mapping.to_dict(),
            "ccc": self.ccc,
            "notes": self.notes,
            "plane": None if self.plane is None else self.plane.describe(),
            "variance_share": None
            if self.variance_share is None
            else _records(self.variance_share.reset_index()),
            "order_check": None if self.order_check is None else self.order_check.to_dict(),
            "intervals": None if self.bootstrap is None else self.bootstrap.describe(),
        }


def feature_arrays(features: Any) -> tuple[dict[str, np.ndarray], str]:
    """The arrays of a features file, and a name for it to put in messages.

    ``features`` is a path to a file written by ``emocirc extract`` (read by
    :func:`emocirc.features.load_features`, the project's one reader, which
    checks it is complete), a :class:`~emocirc.features.Features`, or a
    mapping of arrays (an ``np.load`` result or a dict) for analyses of
    constructed data.

    Examples
    --------
    >>> arrays, source = feature_arrays({"embeddings": np.zeros((2, 3))})
    >>> sorted(arrays), source
    (['embeddings'], 'features')
    """
    if isinstance(features, (str, os.PathLike)):
        from emocirc.features import load_features

        return {k: np.asarray(v) for k, v in load_features(features).as_dict().items()}, str(features)
    if hasattr(features, "as_dict"):  # emocirc.features.Features
        return {k: np.asarray(v) for k, v in features.as_dict().items()}, "features"
    if isinstance(features, Mapping) or hasattr(features, "files"):
        keys = features.files if hasattr(features, "files") else list(features)
        return {k: np.asarray(features[k]) for k in keys}, "features"
    raise EmocircError(f"features: expected a path or a mapping of arrays, got {type(features).__name__}")


def select_layer(
    arrays: Mapping[str, np.ndarray], layer: int | None, source: str = "features"
) -> tuple[np.ndarray, int | None]:
    """The (utterances x dims) embeddings of one layer of a features file.

    ``layer`` is a value of the file's ``layers`` array (0 = CNN output,
    1.. transformer layers), the last one by default; a plain 2-D
    ``embeddings`` array is used as it is.

    Examples
    --------
    >>> emb = np.arange(24, dtype=float).reshape(2, 3, 4)
    >>> X, layer = select_layer({"embeddings": emb, "layers": np.array([0, 1, 2])}, None)
    >>> layer, X.tolist()[0]
    (2, [8.0, 9.0, 10.0, 11.0])
    """
    if "embeddings" not in arrays:
        raise EmocircError(f"{source}: expected an 'embeddings' array, found {sorted(arrays)}")
    emb = np.asarray(arrays["embeddings"], dtype=float)
    if emb.ndim == 2:
        named = np.asarray(arrays["layers"]).astype(int).ravel().tolist() if "layers" in arrays else []
        if layer is not None and named and layer not in named:
            raise EmocircError(f"{source}: layer {layer} not available, expected one of {named}")
        if layer is None and len(named) == 1:
            layer = named[0]
        return emb, layer
    if emb.ndim != 3:
        raise EmocircError(f"{source}: expected 'embeddings' of shape N x L x D or N x D, got {emb.shape}")
    layers = (
        np.asarray(arrays["layers"]).astype(int).tolist() if "layers" in arrays else list(range(emb.shape[1]))
    )
    if len(layers) != emb.shape[1]:
        raise EmocircError(
            f"{source}: 'layers' has {len(layers)} entries, expected {emb.shape[1]} (embeddings' axis 1)"
        )
    chosen = layers[-1] if layer is None else int(layer)
    if chosen not in layers:
        raise EmocircError(f"{source}: layer {chosen} not available, expected one of {layers}")
    return emb[:, layers.index(chosen), :], chosen


# One BLAS thread: these matrices are small, and on a busy machine several threads make
# a 420 x 768 SVD take seconds instead of a tenth of one.
@threadpool_limits.wrap(limits=1)
def analyze(
    features: Any,
    layer: int | None = None,
    dims: int = 2,
    origin: str = "grand-mean",
    reference: str = "russell",
    standardize: bool = False,
    n_boot: int = 200,
    seed: int = 0,
    fit_on: Any = None,
    max_components: int = 10,
    plane: str | EmotionPlane = "pca",
    ci: float = 0.95,
    method: str = "percentile",
) -> Analysis:
    """Every circumplex statistic of one features file (the engine of ``emocirc analyze``).

    Parameters
    ----------
    features:
        Path to a features ``.npz`` (``emocirc extract``), a
        :class:`emocirc.features.Features`, or a mapping with at least ``embeddings`` (N x L x D or N x D) and ``labels``; optional
        ``layers``, ``speakers``, ``valence``, ``arousal``.
    layer:
        Which hidden state (a value of ``layers``; the last by default).
    dims:
        PCA dimensions (2 or 3) for the Gaussians and distances; the polar
        table and the mapping use the first two.
    origin:
        ``"grand-mean"`` or ``"neutral"`` (see :func:`polar_centroids`).
    reference:
        Expected positions for the order statistic and the mapping.
    fit_on:
        Another features file or mapping to fit the PCA on (transfer, e.g.
        IEMOCAP -> EMODB); the PCA is fitted on ``features`` by default.
    max_components:
        Components kept for the explained-variance curve.
    plane:
        The plane of the polar table, the order statistic and the mapping:
        ``"pca"`` (the first two components), ``"lda"`` (the discriminant
        plane) or an :class:`EmotionPlane` (e.g. a chosen pair of
        components).  The Gaussians and distances use the first ``dims``
        principal components whatever the plane.
    n_boot, ci, method:
        Speaker-bootstrap resamples (0: no intervals), coverage and interval
        method (:func:`emocirc.inference.speaker_bootstrap`).  Speakers are
        read from the features' ``speakers``; every resample refits the PCA,
        the plane and the Gaussians (unless ``fit_on`` fixed the PCA on
        another corpus, which is then kept).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> angles = {"happiness": 10, "anger": 100, "sadness": 195, "boredom": 240}
    >>> centres = [5 * np.array([np.cos(np.radians(a)), np.sin(np.radians(a)), 0, 0]) for a in angles.values()]
    >>> emb = np.vstack([c + rng.normal(0, 1, (40, 4)) for c in centres])
    >>> labels = np.repeat(list(angles), 40)
    >>> res = analyze({"embeddings": emb, "labels": labels}, n_boot=0)
    >>> res.order_agreement.statistic
    1.0
    """
    if dims not in (2, 3):
        raise EmocircError(f"dims={dims}: expected 2 or 3")
    if reference not in REFERENCES:
        raise EmocircError(f"reference={reference!r}: expected one of {', '.join(REFERENCES)}")
    if origin not in ORIGINS:
        raise EmocircError(f"origin={origin!r}: expected one of {', '.join(ORIGINS)}")
    arrays, source = feature_arrays(features)
    if "labels" not in arrays:
        raise EmocircError(f"{source}: expected a 'labels' array, found {sorted(arrays)}")
    X, chosen = select_layer(arrays, layer, source)
    labels = _as_labels(arrays["labels"], len(X))
    if len(X) <= dims:
        raise EmocircError(f"{source}: {len(X)} utterances, expected more than dims={dims}")
    try:
        _classes(labels)
    except EmocircError as err:
        raise EmocircError(f"{source}: {err}") from None
    fit_X, fit_labels = X, labels
    if fit_on is not None:
        fit_arrays, fit_source = feature_arrays(fit_on)
        fit_X, _ = select_layer(fit_arrays, chosen, fit_source)
        fit_labels = _as_labels(fit_arrays["labels"], len(fit_X)) if "labels" in fit_arrays else None
    if isinstance(plane, str):
        if plane not in PLANES:
            raise EmocircError(f"plane={plane!r}: expected one of {', '.join(PLANES)} or an EmotionPlane")
        plane_model = EmotionPlane(kind=plane, standardize=standardize)
    else:
        plane_model = plane
    n_comp = max(dims, min(max_components, fit_X.shape[0], fit_X.shape[1]))
    pca = EmbeddingPCA(n_components=n_comp, standardize=standardize).fit(fit_X)
    coords = pca.transform(X)[:, :dims]
    plane_model = clone(plane_model).fit(fit_X, fit_labels)
    plane_xy = plane_model.transform(X)
    gaussians = EmotionGaussians(random_state=seed).fit(coords, labels)
    classes = list(gaussians.classes_)
    notes: list[str] = []
    speakers = arrays.get("speakers")
    if speakers is None or not np.any(np.asarray(speakers).astype(str) != ""):
        speakers = None
        if n_boot:
            notes.append(
                "no speaker ids: the bootstrap treats every utterance as its own speaker, "
                "which is too narrow when utterances cluster by speaker"
            )
    maha = mahalanobis_table(coords, labels, "pooled", n_boot=0)
    maha_point = mahalanobis_table(coords, labels, "point", n_boot=0)
    polar = polar_centroids(plane_xy, labels, origin=origin)
    base_polar = _polar(plane_xy, labels, classes, origin)
    pairs = list(itertools.combinations(range(len(classes)), 2))
    pi, pj = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    refit = fit_on is None
    ref_axes = pca.pca_.components_[:dims].T

    pca_plane = plane_model.kind == "pca"
    plane_comps = [int(c) for c in plane_model.components]
    n_axes = max(dims, max(plane_comps) + 1) if pca_plane else dims

    def statistic(idx: np.ndarray) -> np.ndarray:
        Xi, yi = X[idx], labels[idx]
        _check_resample(yi, classes)
        if refit:
            S = Xi - Xi.mean(axis=0)
            if standardize:
                S = S / np.where(S.std(axis=0) > 0, S.std(axis=0), 1.0)
            axes, ratio = principal_axes(S, n_axes)
            c_b = S @ (axes[:, :dims] * _align_axes(axes[:, :dims], ref_axes))
            if pca_plane:
                a_b = axes[:, plane_comps]
                p_b = S @ (a_b * _align_axes(a_b, plane_model.axes_))
                share_b = ratio[plane_comps]
            else:
                plane_b = clone(plane_model).fit(Xi, yi)
                p_b = plane_b.transform(Xi) * _align_axes(plane_b.axes_, plane_model.axes_)
                share_b = plane_b.variance_share_
        else:
            c_b, p_b, share_b = coords[idx], plane_xy[idx], plane_model.variance_share_
        pol = _polar(p_b, yi, classes, origin)
        return np.concatenate(
            [
                _pairwise(c_b, yi, classes, "pooled", 1e-6)[pi, pj],
                _pairwise(c_b, yi, classes, "point", 1e-6)[pi, pj],
                pol[:, 2],
                wrap_degrees(pol[:, 3] - base_polar[:, 3]),
                share_b,
            ]
        )

    names = (
        [f"pooled:{classes[i]}|{classes[j]}" for i, j in pairs]
        + [f"point:{classes[i]}|{classes[j]}" for i, j in pairs]
        + [f"radius:{c}" for c in classes]
        + [f"angle:{c}" for c in classes]
        + ["share:1", "share:2"]
    )
    boot: BootstrapResult | None = None
    shares = pd.DataFrame(
        {"share": plane_model.variance_share_, "ci_low": np.nan, "ci_high": np.nan},
        index=pd.Index(["axis 1", "axis 2"], name="axis"),
    )
    deviations = None
    if n_boot:
        boot = speaker_bootstrap(
            statistic,
            speakers,
            n_resamples=int(n_boot),
            confidence_level=ci,
            method=method,
            seed=seed,
            names=names,
            n=len(X),
        )
        m, k = len(pairs), len(classes)
        maha["ci_low"], maha["ci_high"] = boot.low[:m], boot.high[:m]
        maha_point["ci_low"], maha_point["ci_high"] = boot.low[m : 2 * m], boot.high[m : 2 * m]
        r0, a0 = 2 * m, 2 * m + k
        by_class = {c: i for i, c in enumerate(classes)}
        rows = [by_class[c] for c in polar.index]
        polar["radius_low"] = boot.low[r0 : r0 + k][rows]
        polar["radius_high"] = boot.high[r0 : r0 + k][rows]
        polar["angle_low"] = polar["angle_deg"].to_numpy() + boot.low[a0 : a0 + k][rows]
        polar["angle_high"] = polar["angle_deg"].to_numpy() + boot.high[a0 : a0 + k][rows]
        shares["ci_low"], shares["ci_high"] = boot.low[-2:], boot.high[-2:]
        deviations = boot.distribution[:, a0 : a0 + k]
        if boot.n_failed:
            notes.append(f"{boot.n_failed} of {n_boot} bootstrap resamples lacked a class and were left out")
    order = angular_order(polar)
    angle_of = dict(zip(classes, base_polar[:, 3], strict=True))
    # Neutral belongs at the centre: the order statistics leave it out, and so does the check.
    on_circle = [i for i, c in enumerate(classes) if c != "neutral"]
    order_check = order_identifiability(
        {classes[i]: angle_of[classes[i]] for i in on_circle},
        plane_model.variance_share_,
        None if deviations is None else deviations[:, on_circle],
        confidence_level=ci,
    )
    exp_angles = expected_angles(classes, reference)
    obs_angles = dict(zip(polar.index.astype(str), polar["angle_deg"].astype(float), strict=True))
    try:
        agreement: OrderAgreement | None = circular_order_agreement(obs_angles, exp_angles, seed=seed)
    except EmocircError as err:
        agreement = None
        notes.append(f"order agreement not computed: {err}")
    try:
        mapping: CircumplexMapping | None = CircumplexMapping(reference=reference).fit(plane_xy, labels)
        projected = mapping.transform(plane_xy)
    except EmocircError as err:
        mapping, projected = None, None
        notes.append(f"Procrustes mapping not computed: {err}")
    ccc: dict[str, dict[str, float]] = {}
    has_va = all(k in arrays for k in ("valence", "arousal", "speakers"))
    if has_va and np.isfinite(np.asarray(arrays["valence"], dtype=float)).sum() >= 2:
        for method in ("procrustes", "ridge"):
            try:
                score = speaker_independent_ccc(
                    X,
                    labels,
                    arrays["valence"],
                    arrays["arousal"],
                    arrays["speakers"],
                    method=method,
                    reference=reference,
                )
                ccc[method] = {
                    "valence": score["valence"],
                    "arousal": score["arousal"],
                    "folds": score["folds"],
                }
            except EmocircError as err:
                notes.append(f"{method} CCC not computed: {err}")
    return Analysis(
        layer=chosen,
        dims=dims,
        origin=origin,
        reference=reference,
        labels=labels,
        coords=coords,
        pca=pca,
        gaussians=gaussians,
        mahalanobis=maha,
        mahalanobis_point=maha_point,
        polar=polar,
        order=order,
        order_agreement=agreement,
        mapping=mapping,
        projected=projected,
        ccc=ccc,
        notes=notes,
        plane=plane_model,
        plane_coords=plane_xy,
        variance_share=shares,
        order_check=order_check,
        bootstrap=boot,
    )
