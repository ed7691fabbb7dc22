"""Speaker-aware uncertainty: the one bootstrap behind every interval in the book.

Utterances of one speaker are not independent: they share a voice, a
microphone and habits, so an interval that resamples utterances as if they
were independent is too narrow (the more so, the more utterances each
speaker contributes).  Every interval in emocirc comes from one scheme:

The scheme (a two-stage, or hierarchical, bootstrap)
    1. Draw as many speakers as the data has, with replacement.
    2. For every drawn speaker, draw as many of that speaker's utterances as
       they have, with replacement (``within=True``, the default; with
       ``within=False`` a drawn speaker brings all their utterances as they
       are).  A speaker drawn twice contributes twice.
    3. Call the *statistic* on the drawn utterance indices.  The statistic
       refits whatever the estimate fitted -- a PCA, the per-emotion
       Gaussians, a Procrustes map -- on the resample, so the interval
       carries the uncertainty of those fits too.  What a trained model
       predicted is not refitted: intervals on WA, UA or CCC of a classifier
       or regressor resample its test speakers (which speakers it happened
       to be tested on), not its training.
    4. Repeat ``n_resamples`` times (seeded) and read the interval off the
       resampled values: the percentile interval by default, or the BCa
       interval.  Both come from :func:`scipy.stats.bootstrap`, whose "data"
       are the speaker indices, so that its resampling *is* stage 1 and its
       jackknife (which BCa needs for the acceleration) leaves out one
       speaker at a time, with all their utterances.

Why both stages by default: drawing utterances within speakers as well
adds the within-speaker sampling noise once more, so with many utterances
per speaker and few speakers it errs slightly on the wide side (Davison and
Hinkley 1997, section 3.8), never on the narrow side, which is the error
this module exists to avoid.

A resample on which the statistic cannot be computed (a class without
utterances, a singular covariance) gives NaN and is left out; the count is
kept (``n_failed``) and the interval is then the percentile interval of the
remaining resamples, whatever ``method`` asked for.  Quantities derived
from a vector statistic afterwards (the difference of two distances, say)
take the percentile interval of the same resamples
(:meth:`BootstrapResult.derived`), so a claim and its parts always share
their resamples.

A claim is judged by the interval of the quantity it is about, never by
comparing two point estimates: :func:`verdict` says "holds" when the whole
interval lies on the claimed side, "does not hold" when it lies wholly on
the other side, and "not resolved" otherwise.

Without speaker ids, every utterance is its own speaker and the scheme is
the ordinary utterance bootstrap; the result says so (``n_speakers`` equals
the number of utterances).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> speakers = np.repeat(np.arange(8), 20)
>>> x = rng.normal(size=8)[speakers] + rng.normal(0, 0.1, 160)
>>> r = speaker_bootstrap(lambda idx: x[idx].mean(), speakers, n_resamples=200)
>>> bool(r.low[0] < x.mean() < r.high[0]), r.n_speakers
(True, 8)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from emocirc.errors import EmocircError
from emocirc.labels import label_order
from emocirc.metrics import macro_f1, unweighted_recall, weighted_accuracy

#: Interval methods :func:`speaker_bootstrap` accepts (scipy's names).
METHODS: tuple[str, ...] = ("percentile", "BCa", "basic")

#: One line naming the scheme, for captions and tables.
SCHEME = "speaker bootstrap (speakers, then utterances within them, resampled; fits redone per resample)"


class Verdict(str, Enum):
    """What an interval says about a one-sided claim."""

    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    NOT_RESOLVED = "not resolved"

    def __str__(self) -> str:
        return self.value


def verdict(low: float, high: float, threshold: float = 0.0) -> Verdict:
    """Judge the claim "the quantity is above ``threshold``" by its interval.

    ``HOLDS`` when the whole interval lies above the threshold,
    ``DOES_NOT_HOLD`` when it lies wholly below it (the opposite claim is
    then resolved), ``NOT_RESOLVED`` when the interval contains it or is NaN.

    Examples
    --------
    >>> str(verdict(0.2, 0.9)), str(verdict(-0.9, -0.1)), str(verdict(-0.1, 0.4))
    ('holds', 'does not hold', 'not resolved')
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return Verdict.NOT_RESOLVED
    if low > threshold:
        return Verdict.HOLDS
    if high < threshold:
        return Verdict.DOES_NOT_HOLD
    return Verdict.NOT_RESOLVED


@dataclass
class BootstrapResult:
    """Result of :func:`speaker_bootstrap` (arrays have one entry per statistic component).

    Attributes
    ----------
    estimate, low, high : ndarray
        The statistic on all the data, and the interval's ends.
    distribution : ndarray (resamples x components)
        The statistic on every resample (NaN where it could not be computed).
    method : str
        The interval actually given (``"percentile"`` when resamples failed).
    """

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    distribution: np.ndarray
    method: str
    confidence_level: float
    n_resamples: int
    n_failed: int
    n_speakers: int
    within: bool
    names: list[str] | None = None

    def derived(self, fn: Callable[[np.ndarray], Any]) -> tuple[float, float, float]:
        """Estimate and percentile interval of ``fn(statistic vector)`` over the same resamples.

        Examples
        --------
        >>> x = np.arange(40.0)
        >>> r = speaker_bootstrap(lambda i: [x[i].mean(), x[i].max()], np.repeat(np.arange(10), 4), n_resamples=50)
        >>> est, lo, hi = r.derived(lambda v: v[1] - v[0])
        >>> est, bool(lo <= hi)
        (19.5, True)
        """
        est = float(fn(self.estimate))
        values = np.array([float(fn(row)) for row in self.distribution])
        lo, hi = _percentile(values[:, None], self.confidence_level)
        return est, float(lo[0]), float(hi[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per component: ``estimate``, ``ci_low``, ``ci_high``.

        Examples
        --------
        >>> r = speaker_bootstrap(lambda i: [1.0, 2.0], np.arange(5), n_resamples=10, names=["a", "b"])
        >>> r.to_frame()["estimate"].tolist()
        [1.0, 2.0]
        """
        index = self.names if self.names is not None else list(range(len(self.estimate)))
        return pd.DataFrame(
            {"estimate": self.estimate, "ci_low": self.low, "ci_high": self.high}, index=index
        )

    def describe(self) -> str:
        """One sentence for a caption: the scheme, resamples, speakers, method, coverage.

        Examples
        --------
        >>> speaker_bootstrap(lambda i: 0.0, np.arange(4), n_resamples=10).describe()[:40]
        '95 % percentile intervals of a speaker b'
        """
        failed = f", {self.n_failed} failed and left out" if self.n_failed else ""
        inner = "then utterances within them" if self.within else "all their utterances kept"
        return (
            f"{self.confidence_level:.0%} {self.method} intervals of a speaker bootstrap "
            f"({self.n_resamples} resamples of {self.n_speakers} speakers, {inner}{failed})"
        ).replace("%", " %", 1)


def _percentile(dist: np.ndarray, confidence_level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - confidence_level) / 2
    k = dist.shape[1]
    lo, hi = np.full(k, np.nan), np.full(k, np.nan)
    for j in range(k):
        finite = dist[np.isfinite(dist[:, j]), j]
        if finite.size:
            lo[j], hi[j] = np.quantile(finite, [alpha, 1 - alpha])
    return lo, hi


def speaker_groups(speakers: Any, n: int | None = None) -> list[np.ndarray]:
    """Utterance indices of each speaker, in order of first appearance.

    ``None`` (no speaker ids) makes every utterance its own speaker, as does
    an empty id.

    Examples
    --------
    >>> [g.tolist() for g in speaker_groups(["b", "a", "b"])]
    [[0, 2], [1]]
    >>> len(speaker_groups(None, 3))
    3
    """
    if speakers is None:
        if n is None:
            raise EmocircError("speakers: None needs the number of utterances")
        return [np.array([i]) for i in range(n)]
    s = np.asarray(speakers).astype(str).ravel()
    if n is not None and len(s) != n:
        raise EmocircError(f"speakers: expected {n} speaker ids, one per utterance, got {len(s)}")
    groups: dict[str, list[int]] = {}
    for i, sp in enumerate(s):
        groups.setdefault(sp if sp else f"\0utterance{i}", []).append(i)
    return [np.asarray(v) for v in groups.values()]


def speaker_bootstrap(
    statistic: Callable[[np.ndarray], Any],
    speakers: Any,
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
    within: bool = True,
    names: Sequence[str] | None = None,
    n: int | None = None,
) -> BootstrapResult:
    """Interval of ``statistic`` under the speaker bootstrap (see the module notes).

    Parameters
    ----------
    statistic:
        Called with an integer array of utterance indices (into the arrays
        it closes over; repeated indices are repeated utterances); returns a
        number or a 1-D array.  It should refit what the estimate fitted.
        It may raise :class:`EmocircError` or ``LinAlgError`` on a
        degenerate resample, which then counts as failed.
    speakers:
        Speaker id of every utterance, or ``None`` (then ``n`` is needed and
        every utterance is its own speaker).
    method:
        ``"percentile"``, ``"BCa"`` or ``"basic"``, as in
        :func:`scipy.stats.bootstrap`.
    within:
        Resample utterances within each drawn speaker as well.

    Examples
    --------
    >>> speakers = np.repeat(["s1", "s2", "s3", "s4"], 5)
    >>> x = np.arange(20.0)
    >>> r = speaker_bootstrap(lambda i: x[i].mean(), speakers, n_resamples=100, method="BCa", seed=1)
    >>> r.estimate.tolist(), r.method, bool(r.low[0] < 9.5 < r.high[0])
    ([9.5], 'BCa', True)
    """
    if method not in METHODS:
        raise EmocircError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if not 0 < confidence_level < 1:
        raise EmocircError(f"confidence_level={confidence_level}: expected a value strictly between 0 and 1")
    if int(n_resamples) < 1:
        raise EmocircError(f"n_resamples={n_resamples}: expected at least 1")
    if speakers is not None:
        count = len(np.asarray(speakers).ravel())
        if n is not None and count != n:
            raise EmocircError(f"speakers: expected {n} speaker ids, one per utterance, got {count}")
        n = count
    groups = speaker_groups(speakers, n)
    k = len(groups)
    if k < 2:
        raise EmocircError(f"speakers: expected at least 2 speakers to resample, got {k}")
    estimate = np.atleast_1d(np.asarray(statistic(np.arange(n)), dtype=float)).ravel()
    width = len(estimate)
    if names is not None and len(names) != width:
        raise EmocircError(f"names: expected {width} names, one per statistic component, got {len(names)}")
    seq = np.random.SeedSequence(seed)
    outer, inner = (np.random.default_rng(s) for s in seq.spawn(2))

    flat = np.concatenate(groups)
    sizes = np.array([len(g) for g in groups])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def on_speakers(chosen: np.ndarray) -> np.ndarray:
        chosen = np.asarray(chosen, dtype=int)
        sz = sizes[chosen]
        total = int(sz.sum())
        each = np.repeat(sz, sz)
        # A jackknife sample (k - 1 speakers, for BCa) keeps each speaker whole.
        if within and len(chosen) == k:
            offset = np.minimum((inner.random(total) * each).astype(int), each - 1)
        else:
            offset = np.arange(total) - np.repeat(np.cumsum(sz) - sz, sz)
        idx = flat[np.repeat(starts[chosen], sz) + offset]
        try:
            value = np.atleast_1d(np.asarray(statistic(idx), dtype=float)).ravel()
        except (EmocircError, np.linalg.LinAlgError, ValueError, FloatingPointError):
            return np.full(width, np.nan)
        if value.shape != (width,):
            raise EmocircError(
                f"statistic: returned {value.shape[0]} values on a resample, {width} on all data"
            )
        return value

    # One BLAS thread: the resamples' linear algebra is small, and several threads on a
    # busy machine make a 420 x 64 SVD some forty times slower, not faster.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (np.arange(k),),
            on_speakers,
            vectorized=False,
            paired=False,
            n_resamples=int(n_resamples),
            confidence_level=confidence_level,
            method=method,
            random_state=outer,
        )
    dist = np.asarray(res.bootstrap_distribution, dtype=float).reshape(width, -1).T
    # A component undefined on all the data (neutral's angle about itself) fails nothing.
    defined = np.isfinite(estimate)
    n_failed = int(np.sum(~np.all(np.isfinite(dist[:, defined]), axis=1)))
    low = np.atleast_1d(np.asarray(res.confidence_interval.low, dtype=float)).ravel()
    high = np.atleast_1d(np.asarray(res.confidence_interval.high, dtype=float)).ravel()
    used = method
    if n_failed or not (np.all(np.isfinite(low[defined])) and np.all(np.isfinite(high[defined]))):
        low, high = _percentile(dist, confidence_level)
        used = "percentile"
    return BootstrapResult(
        estimate=estimate,
        low=low,
        high=high,
        distribution=dist,
        method=used,
        confidence_level=confidence_level,
        n_resamples=int(n_resamples),
        n_failed=n_failed,
        n_speakers=k,
        within=within,
        names=None if names is None else list(names),
    )


# --------------------------------------------------------------------------- scores of a system


_CLASSIFICATION = {
    "WA": weighted_accuracy,
    "UA": unweighted_recall,
    "macro-F1": macro_f1,
}


def _labels_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).astype(str).ravel()
    p = np.asarray(y_pred).astype(str).ravel()
    if t.shape != p.shape:
        raise EmocircError(f"y_pred: expected {t.size} predictions, one per utterance, got {p.size}")
    return t, p


def classification_intervals(
    y_true: Any,
    y_pred: Any,
    speakers: Any,
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> pd.DataFrame:
    """WA, UA and macro-F1 of a classifier's predictions with speaker-bootstrap intervals.

    The metrics are :mod:`emocirc.metrics`'; the classifier is not
    retrained, its test speakers are resampled.

    Returns
    -------
    DataFrame indexed by ``WA``, ``UA``, ``macro-F1`` with ``estimate``,
    ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> t = ["anger", "sadness"] * 20
    >>> p = ["anger", "sadness"] * 15 + ["sadness", "anger"] * 5
    >>> table = classification_intervals(t, p, np.repeat(np.arange(8), 5), n_resamples=100)
    >>> float(table.loc["WA", "estimate"]), bool(table.loc["WA", "ci_low"] < 0.75 < table.loc["WA", "ci_high"])
    (0.75, True)
    """
    t, p = _labels_pair(y_true, y_pred)
    labels = label_order(set(t.tolist()))

    def stat(idx: np.ndarray) -> list[float]:
        return [
            weighted_accuracy(t[idx], p[idx]),
            unweighted_recall(t[idx], p[idx], labels),
            macro_f1(t[idx], p[idx], labels),
        ]

    res = speaker_bootstrap(
        stat,
        speakers,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        method=method,
        seed=seed,
        names=list(_CLASSIFICATION),
        n=len(t),
    )
    return res.to_frame()


def _ccc(t: np.ndarray, p: np.ndarray) -> float:
    # Imported here: emocirc.circumplex imports this module.
    from emocirc.circumplex import concordance_correlation

    return concordance_correlation(t, p)


def ccc_interval(
    y_true: Any,
    y_pred: Any,
    speakers: Any,
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> BootstrapResult:
    """Lin's CCC of predictions (pairs with both values finite) with a speaker-bootstrap interval.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.normal(size=120)
    >>> r = ccc_interval(t, t + rng.normal(0, 0.3, 120), np.repeat(np.arange(12), 10), n_resamples=100)
    >>> bool(0.8 < r.estimate[0] < 1), bool(r.low[0] < r.estimate[0] < r.high[0])
    (True, True)
    """
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise EmocircError(f"y_pred: expected {t.size} predictions, one per utterance, got {p.size}")
    return speaker_bootstrap(
        lambda idx: _ccc(t[idx], p[idx]),
        speakers,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        method=method,
        seed=seed,
        names=["CCC"],
        n=len(t),
    )


def _metric(metric: str | Callable[[Any, Any], float]) -> Callable[[Any, Any], float]:
    if callable(metric):
        return metric
    table: dict[str, Callable[[Any, Any], float]] = {**_CLASSIFICATION, "CCC": _ccc}
    if metric not in table:
        raise EmocircError(f"metric={metric!r}: expected one of {', '.join(table)} or a function")
    return table[metric]


@dataclass
class PairedDifference:
    """Result of :func:`paired_difference`: ``metric(a) - metric(b)`` on the same utterances."""

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    verdict: Verdict
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "a": self.a,
            "b": self.b,
            "difference": self.difference,
            "ci_low": self.low,
            "ci_high": self.high,
            "verdict": str(self.verdict),
        }


def paired_difference(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    speakers: Any,
    metric: str | Callable[[Any, Any], float] = "UA",
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> PairedDifference:
    """Compare two systems scored on the same utterances: difference with its interval.

    Both systems are scored on every resample's same utterances, so what
    they share (hard speakers, easy ones) cancels in the difference.  The
    verdict is that of the claim "a scores higher than b".

    Parameters
    ----------
    metric:
        ``"WA"``, ``"UA"``, ``"macro-F1"`` (labels) or ``"CCC"`` (numbers),
        or a function ``(y_true, y_pred) -> float``.

    Examples
    --------
    >>> t = np.array(["anger", "sadness"] * 30)
    >>> d = paired_difference(t, t, t, np.repeat(np.arange(6), 10), n_resamples=50)
    >>> d.difference, d.low, d.high, str(d.verdict)
    (0.0, 0.0, 0.0, 'not resolved')
    """
    fn = _metric(metric)
    if callable(metric):  # the function's own business what its inputs are
        cast = lambda v: np.asarray(v).ravel()  # noqa: E731
    elif metric == "CCC":
        cast = lambda v: np.asarray(v, dtype=float).ravel()  # noqa: E731
    else:
        cast = lambda v: np.asarray(v).astype(str).ravel()  # noqa: E731
    t, a, b = cast(y_true), cast(pred_a), cast(pred_b)
    if not (t.shape == a.shape == b.shape):
        raise EmocircError(
            f"predictions: expected one per utterance for both systems ({t.size}), got {a.size} and {b.size}"
        )

    def stat(idx: np.ndarray) -> list[float]:
        sa, sb = fn(t[idx], a[idx]), fn(t[idx], b[idx])
        return [sa, sb, sa - sb]

    res = speaker_bootstrap(
        stat,
        speakers,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        method=method,
        seed=seed,
        n=len(t),
    )
    lo, hi = float(res.low[2]), float(res.high[2])
    return PairedDifference(
        metric=metric if isinstance(metric, str) else getattr(metric, "__name__", "metric"),
        a=float(res.estimate[0]),
        b=float(res.estimate[1]),
        difference=float(res.estimate[2]),
        low=lo,
        high=hi,
        verdict=verdict(lo, hi),
        description=res.describe(),
    )


def confusion_shares(
    y_true: Any,
    y_pred: Any,
    speakers: Any,
    labels: Sequence[str] | None = None,
    threshold: float = 0.2,
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Every large confusion, in both directions, with speaker-bootstrap intervals.

    The share of a true class predicted as another (a row of the
    confusion matrix, normalised).  A pair of classes is listed when either
    direction reaches ``threshold``; both directions are then shown, so
    that "b predicted as a" is never reported without "a predicted as b".

    Returns
    -------
    DataFrame with ``true``, ``predicted``, ``count``, ``n_true``, ``share``,
    ``ci_low``, ``ci_high``, sorted by descending share.

    Examples
    --------
    >>> t = ["anger"] * 10 + ["happiness"] * 10
    >>> p = ["happiness"] * 7 + ["anger"] * 3 + ["happiness"] * 9 + ["anger"]
    >>> s = confusion_shares(t, p, np.tile(np.arange(5), 4), n_resamples=50)
    >>> s[["true", "predicted", "count", "share"]].values.tolist()
    [['anger', 'happiness', 7, 0.7], ['happiness', 'anger', 1, 0.1]]
    """
    t, p = _labels_pair(y_true, y_pred)
    order = label_order(set(t.tolist()) | set(p.tolist())) if labels is None else list(labels)
    index = {lab: i for i, lab in enumerate(order)}
    k = len(order)

    def shares(idx: np.ndarray) -> np.ndarray:
        m = np.zeros((k, k))
        for a, b in zip(t[idx], p[idx], strict=True):
            if a in index and b in index:
                m[index[a], index[b]] += 1
        rows = m.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (m / rows).ravel()

    full = shares(np.arange(len(t))).reshape(k, k)
    pairs = [
        (i, j)
        for i in range(k)
        for j in range(i + 1, k)
        if max(np.nan_to_num(full[i, j]), np.nan_to_num(full[j, i])) >= threshold
    ]
    columns = ["true", "predicted", "count", "n_true", "share", "ci_low", "ci_high"]
    if not pairs:
        return pd.DataFrame(columns=columns)
    res = speaker_bootstrap(
        shares, speakers, n_resamples=n_resamples, confidence_level=confidence_level, seed=seed, n=len(t)
    )
    rows = []
    for i, j in pairs:
        for a, b in ((i, j), (j, i)):
            n_true = int(np.sum(t == order[a]))
            count = int(np.sum((t == order[a]) & (p == order[b])))
            rows.append(
                [
                    order[a],
                    order[b],
                    count,
                    n_true,
                    float(full[a, b]),
                    res.low[a * k + b],
                    res.high[a * k + b],
                ]
            )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("share", ascending=False, kind="stable").reset_index(drop=True)


def wrap_degrees(values: Any) -> np.ndarray:
    """Angles (degrees) wrapped to ``[-180, 180)``: deviations that straddle 0 correctly.

    Examples
    --------
    >>> wrap_degrees([190, -190, 359]).tolist()
    [-170.0, 170.0, -1.0]
    """
    return (np.asarray(values, dtype=float) + 180.0) % 360.0 - 180.0


# --------------------------------------------------------------------------- series in time: blocks

#: One line naming the time-series scheme, for captions and tables.
BLOCK_SCHEME = (
    "block bootstrap (blocks of consecutive windows, never straddling two recordings, resampled; "
    "order kept within a block)"
)


def moving_blocks(n: int, runs: Any = None, block: int = 4) -> list[np.ndarray]:
    """Cut ``n`` time-ordered observations into blocks of ``block`` consecutive ones, run by run.

    A run (a recording, say) is cut from its start; its last block may be
    shorter.  No block straddles two runs.

    Examples
    --------
    >>> [b.tolist() for b in moving_blocks(7, [0, 0, 0, 0, 0, 1, 1], block=2)]
    [[0, 1], [2, 3], [4], [5, 6]]
    """
    if int(block) < 1:
        raise EmocircError(f"block={block}: expected at least 1 observation per block")
    runs = np.zeros(n, dtype=np.int64) if runs is None else np.asarray(runs).ravel()
    if len(runs) != n:
        raise EmocircError(f"runs: expected {n} run labels, one per observation, got {len(runs)}")
    if n == 0:
        return []
    blocks: list[np.ndarray] = []
    change = np.flatnonzero(np.concatenate([[True], runs[1:] != runs[:-1], [True]]))
    for a, b in zip(change[:-1], change[1:], strict=True):
        for s in range(a, b, int(block)):
            blocks.append(np.arange(s, min(s + int(block), b)))
    return blocks


@dataclass
class BlockBootstrapResult(BootstrapResult):
    """Result of :func:`block_bootstrap`: ``n_speakers`` is unused (0), ``n_blocks`` counts the blocks."""

    n_blocks: int = 0
    block: int = 1

    @property
    def standard_error(self) -> np.ndarray:
        """Standard deviation of each component over the resamples where it is defined."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanstd(self.distribution, axis=0, ddof=1)

    def describe(self) -> str:
        """One sentence for a caption: the scheme, resamples, blocks, coverage.

        Examples
        --------
        >>> block_bootstrap(lambda i, b: 0.0, 8, block=2, n_resamples=10).describe()[:48]
        '95 % percentile intervals of a block bootstrap ('
        """
        failed = f", {self.n_failed} with an undefined value" if self.n_failed else ""
        return (
            f"{self.confidence_level:.0%} percentile intervals of a block bootstrap "
            f"({self.n_resamples} resamples of {self.n_blocks} blocks of up to {self.block} consecutive "
            f"observations{failed})"
        ).replace("%", " %", 1)


def block_bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], Any],
    n: int,
    runs: Any = None,
    block: int = 4,
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    seed: int | np.random.Generator = 0,
    names: Sequence[str] | None = None,
) -> BlockBootstrapResult:
    """Interval of a statistic of a time series under the (non-overlapping) block bootstrap.

    The book's scheme for observations ordered in time within one person
    -- the windows of a diary day, whose neighbours share a mood -- where
    the speaker bootstrap above has nothing to resample (one speaker):

    1. Cut the series into blocks of ``block`` consecutive observations
       (:func:`moving_blocks`), each run (recording) separately, so that no
       block straddles the gap between two recordings.
    2. Draw as many blocks as there are, with replacement, and lay them
       end to end.
    3. Call ``statistic(indices, block_of_each)``: the drawn observation
       indices, and for each the position of its block in the resample, so
       that a statistic of successive pairs (instability, inertia) pairs
       only observations within one block, never across a seam.
    4. Repeat ``n_resamples`` times and take the percentile interval of each
       component over the resamples where it is defined (a NaN, such as the
       inertia of a resample of one-window blocks, is left out of that
       component; ``n_failed`` counts such resamples).

    Keeping the order within a block keeps the serial dependence that an
    observation-by-observation bootstrap destroys; with dependent data the
    latter's interval of a mean is too narrow (Kunsch 1989; Lahiri 2003).
    ``block=1`` *is* that iid bootstrap.  Percentile intervals only: BCa's
    jackknife does not respect blocks.

    Parameters
    ----------
    seed:
        A seed, or a generator to draw from (several series sharing one
        stream of draws).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.cumsum(rng.normal(size=60)) * 0.1
    >>> r = block_bootstrap(lambda i, b: x[i].mean(), 60, block=6, n_resamples=200)
    >>> bool(r.low[0] < r.estimate[0] < r.high[0]), r.n_blocks
    (True, 10)
    """
    if not 0 < confidence_level < 1:
        raise EmocircError(f"confidence_level={confidence_level}: expected a value strictly between 0 and 1")
    if int(n_resamples) < 1:
        raise EmocircError(f"n_resamples={n_resamples}: expected at least 1")
    n = int(n)
    blocks = moving_blocks(n, runs, block)
    if len(blocks) < 2:
        raise EmocircError(f"series of {n} observations: expected at least 2 blocks of {block} to resample")
    runs_arr = np.zeros(n, dtype=np.int64) if runs is None else np.asarray(runs).ravel()
    estimate = np.atleast_1d(np.asarray(statistic(np.arange(n), runs_arr), dtype=float)).ravel()
    width = len(estimate)
    if names is not None and len(names) != width:
        raise EmocircError(f"names: expected {width} names, one per statistic component, got {len(names)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    sizes = np.array([len(b) for b in blocks])
    dist = np.empty((int(n_resamples), width))
    for r in range(int(n_resamples)):
        pick = rng.integers(len(blocks), size=len(blocks))
        idx = np.concatenate([blocks[j] for j in pick])
        seams = np.repeat(np.arange(len(pick)), sizes[pick])
        value = np.atleast_1d(np.asarray(statistic(idx, seams), dtype=float)).ravel()
        if value.shape != (width,):
            raise EmocircError(
                f"statistic: returned {value.shape[0]} values on a resample, {width} on all data"
            )
        dist[r] = value
    defined = np.isfinite(estimate)
    n_failed = int(np.sum(~np.all(np.isfinite(dist[:, defined]), axis=1)))
    low, high = _percentile(dist, confidence_level)
    return BlockBootstrapResult(
        estimate=estimate,
        low=low,
        high=high,
        distribution=dist,
        method="percentile",
        confidence_level=confidence_level,
        n_resamples=int(n_resamples),
        n_failed=n_failed,
        n_speakers=0,
        within=False,
        names=None if names is None else list(names),
        n_blocks=len(blocks),
        block=int(block),
    )


def cluster_proportion(
    successes: Any,
    trials: Any,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """A pooled proportion ``sum(successes) / sum(trials)`` over clusters, with a cluster-bootstrap interval.

    Each entry is one cluster (a person) with its count of successes and
    of trials (flagged days of their monitored days).  Days of one person
    are not independent, so the clusters are resampled whole: the speaker
    bootstrap above with every person one "speaker" who brings all their
    days (:func:`speaker_bootstrap`).  A Wilson interval on the pooled
    count would treat every day as its own trial and come out too narrow
    when a person's days go together.

    Examples
    --------
    >>> r = cluster_proportion([5, 0, 0, 5], [5, 5, 5, 5], n_resamples=200)
    >>> float(r.estimate[0]), bool(r.low[0] < 0.5 < r.high[0])
    (0.5, True)
    """
    k = np.asarray(successes, dtype=float).ravel()
    t = np.asarray(trials, dtype=float).ravel()
    if k.shape != t.shape:
        raise EmocircError(
            f"successes and trials: expected one of each per cluster, got {k.size} and {t.size}"
        )
    if np.any(t < 0) or np.any(k < 0) or np.any(k > t):
        raise EmocircError("successes and trials: expected 0 <= successes <= trials for every cluster")

    def share(idx: np.ndarray) -> float:
        total = t[idx].sum()
        return float(k[idx].sum() / total) if total > 0 else float("nan")

    return speaker_bootstrap(
        share,
        np.arange(len(k)),
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        seed=seed,
        within=False,
        names=["proportion"],
    )
