"""The prosodic baseline: pitch, energy and rate statistics, logistic regression.

Before any neural network, a classic question: how far does prosody alone get?
For each utterance this module measures the fundamental frequency (F0, by
normalised autocorrelation, in numpy), frame energy, and a speech-rate proxy
(energy peaks, roughly syllable nuclei, per second), summarises them in a
dozen statistics, and classifies emotions with a logistic regression under
leave-one-speaker-out cross-validation.  Features are z-scored within each
speaker first (no labels needed), the usual remedy for voices that differ in
pitch and loudness.  The same functions serve the realism test of the
embedded corpora and the book.

Examples
--------
>>> sr = 16000
>>> t = np.arange(sr) / sr
>>> tone = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
>>> round(float(np.nanmedian(f0_track(tone, sr))))
150
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sp_fft
from scipy.signal import find_peaks
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from emocirc.errors import EmocircError
from emocirc.metrics import confusion_matrix, unweighted_recall, weighted_accuracy

#: Emotions counted as high and low arousal in the arousal check (disgust,
#: placed high by the NRC lexicon but spoken slowly and low, is left out).
HIGH_AROUSAL: tuple[str, ...] = ("anger", "happiness", "fear")
LOW_AROUSAL: tuple[str, ...] = ("sadness", "boredom", "neutral")

#: Names of the per-utterance features, in column order.
FEATURE_NAMES: tuple[str, ...] = (
    "f0_mean",
    "f0_std",
    "f0_p10",
    "f0_p90",
    "f0_range",
    "f0_slope",
    "jitter",
    "voiced_fraction",
    "energy_mean",
    "energy_std",
    "energy_p95",
    "energy_range",
    "rate",
    "speech_duration",
)

_FRAME_S = 0.04
_HOP_S = 0.01


def _frames(x: np.ndarray, sr: int) -> np.ndarray:
    frame = int(round(_FRAME_S * sr))
    hop = int(round(_HOP_S * sr))
    if x.size < frame:
        x = np.pad(x, (0, frame - x.size))
    return sliding_window_view(x, frame)[::hop]


def _energy_db(frames: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)


def f0_track(
    x: np.ndarray,
    sr: int = 16000,
    fmin: float = 60.0,
    fmax: float = 500.0,
    threshold: float = 0.5,
    silence_db: float = 35.0,
) -> np.ndarray:
    """F0 per 10 ms frame by normalised autocorrelation; NaN where unvoiced.

    Parameters
    ----------
    x : numpy.ndarray
        Mono signal.
    sr : int
        Sample rate in Hz.
    fmin, fmax : float
        Search range in Hz.
    threshold : float
        Minimum normalised autocorrelation peak for a voiced frame.
    silence_db : float
        Frames more than this many dB below the loudest frame are unvoiced.

    Returns
    -------
    numpy.ndarray
        F0 in Hz per frame (40 ms window, 10 ms hop).

    Examples
    --------
    >>> sr = 16000
    >>> t = np.arange(sr // 2) / sr
    >>> f0 = f0_track(np.sin(2 * np.pi * 220 * t), sr)
    >>> bool(np.all(np.abs(f0[~np.isnan(f0)] - 220) < 3))
    True
    >>> bool(np.isnan(f0_track(np.zeros(sr), sr)).all())
    True
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise EmocircError(f"signal of shape {x.shape}: expected a mono 1-D signal")
    frames = _frames(x, sr)
    frames = frames - frames.mean(axis=1, keepdims=True)
    n = frames.shape[1]
    lo, hi = int(sr / fmax), min(int(sr / fmin), n - 2)
    # Zero-padding to n + hi keeps lags up to hi free of circular wrap-around.
    n_fft = int(2 ** np.ceil(np.log2(n + hi + 2)))
    window = np.hanning(n)
    spec = sp_fft.rfft(frames * window, n=n_fft, axis=1)
    ac = sp_fft.irfft(spec.real**2 + spec.imag**2, n=n_fft, axis=1)[:, : hi + 2]
    # Divide by the window's own autocorrelation so that long lags are not
    # penalised (Boersma 1993).
    wac = sp_fft.irfft(np.abs(sp_fft.rfft(window, n=n_fft)) ** 2, n=n_fft)[: hi + 2]
    ac = ac / np.maximum(ac[:, :1], 1e-12) / (wac / wac[0])
    seg = ac[:, lo : hi + 1]
    best = seg.max(axis=1)
    # Prefer the shortest lag whose peak is nearly as strong as the best, so a
    # period is not mistaken for two (octave errors).
    is_peak = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    good = is_peak & (seg[:, 1:-1] >= 0.9 * best[:, None])
    idx = np.where(good.any(axis=1), good.argmax(axis=1) + 1, seg.argmax(axis=1))
    rows = np.arange(seg.shape[0])
    # Parabolic interpolation around the chosen lag.
    left = seg[rows, np.clip(idx - 1, 0, seg.shape[1] - 1)]
    mid = seg[rows, idx]
    right = seg[rows, np.clip(idx + 1, 0, seg.shape[1] - 1)]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    lag = lo + idx + np.clip(shift, -0.5, 0.5)
    energy = _energy_db(frames)
    voiced = (mid >= threshold) & (energy > energy.max() - silence_db) & (energy > -70)
    return np.where(voiced, sr / lag, np.nan)


def prosodic_features(x: np.ndarray, sr: int = 16000) -> dict[str, float]:
    """Summary statistics of pitch, energy and rate of one utterance.

    F0 statistics are in semitones relative to 100 Hz; energy in dB of the
    frame mean square (over frames within 35 dB of the loudest); ``rate`` is
    energy peaks per second of speech; ``jitter`` the mean absolute change of
    F0 between neighbouring voiced frames, in percent.

    Examples
    --------
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> feats = prosodic_features(np.sin(2 * np.pi * 200 * t), sr)
    >>> round(feats["f0_mean"], 1)  # 12 semitones above 100 Hz
    12.0
    >>> sorted(feats) == sorted(FEATURE_NAMES)
    True
    """
    x = np.asarray(x, dtype=np.float64)
    f0 = f0_track(x, sr)
    frames = _frames(x, sr)
    energy = _energy_db(frames)
    speech = energy > energy.max() - 35.0
    voiced = ~np.isnan(f0)
    semis = 12.0 * np.log2(f0[voiced] / 100.0)
    out: dict[str, float] = {}
    if semis.size >= 3:
        t = np.flatnonzero(voiced) * _HOP_S
        out["f0_mean"] = float(semis.mean())
        out["f0_std"] = float(semis.std())
        out["f0_p10"], out["f0_p90"] = (float(v) for v in np.percentile(semis, [10, 90]))
        out["f0_range"] = out["f0_p90"] - out["f0_p10"]
        out["f0_slope"] = float(np.polyfit(t - t.mean(), semis, 1)[0])
        # Only neighbours in the same voiced stretch count.
        pairs = voiced[1:] & voiced[:-1]
        ratio = f0[1:][pairs] / f0[:-1][pairs]
        out["jitter"] = float(100.0 * np.mean(np.abs(ratio - 1.0))) if ratio.size else 0.0
    else:
        for name in ("f0_mean", "f0_std", "f0_p10", "f0_p90", "f0_range", "f0_slope", "jitter"):
            out[name] = float("nan")
    idx = np.flatnonzero(speech)
    span = (idx[-1] - idx[0] + 1) * _HOP_S if idx.size else 0.0
    out["voiced_fraction"] = float(voiced.sum() * _HOP_S / span) if span else 0.0
    e = energy[speech]
    out["energy_mean"] = float(e.mean())
    out["energy_std"] = float(e.std())
    out["energy_p95"] = float(np.percentile(e, 95))
    out["energy_range"] = float(np.percentile(e, 95) - np.percentile(e, 10))
    # Syllable nuclei: peaks of the smoothed energy contour, at least 3 dB
    # prominent and 80 ms apart.
    smooth = np.convolve(energy, np.hanning(7) / np.hanning(7).sum(), mode="same")
    peaks, _ = find_peaks(smooth, prominence=3.0, distance=8, height=energy.max() - 30.0)
    out["rate"] = float(peaks.size / span) if span else 0.0
    out["speech_duration"] = float(span)
    return {name: out[name] for name in FEATURE_NAMES}


def extract_prosodic_features(paths: Iterable[str | os.PathLike[str]]) -> pd.DataFrame:
    """Prosodic features of audio files, one row per file (loaded with :func:`emocirc.audio.load_audio`).

    Examples
    --------
    >>> import tempfile, pathlib, soundfile as sf
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> t = np.arange(16000) / 16000
    >>> sf.write(d / "a.wav", 0.3 * np.sin(2 * np.pi * 120 * t), 16000, subtype="PCM_16")
    >>> extract_prosodic_features([d / "a.wav"]).shape
    (1, 14)
    """
    from emocirc.audio import SAMPLE_RATE, load_audio

    rows = [prosodic_features(load_audio(p), SAMPLE_RATE) for p in paths]
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES))


def normalize_per_speaker(features: pd.DataFrame, speakers: Sequence[str]) -> pd.DataFrame:
    """Z-score every feature within each speaker (missing values become the speaker's mean, 0).

    Examples
    --------
    >>> f = pd.DataFrame({"a": [1.0, 3.0, 10.0, 30.0]})
    >>> normalize_per_speaker(f, ["x", "x", "y", "y"])["a"].tolist()
    [-1.0, 1.0, -1.0, 1.0]
    """
    speakers = np.asarray(speakers)
    if len(speakers) != len(features):
        raise EmocircError(f"{len(speakers)} speakers for {len(features)} feature rows: expected one per row")
    values = features.astype(float)
    grouped = values.groupby(speakers)
    std = grouped.transform("std", ddof=0).replace(0.0, 1.0).fillna(1.0)
    out = ((values - grouped.transform("mean")) / std).fillna(0.0)
    return out


def make_classifier(C: float = 1.0, seed: int = 0) -> Pipeline:
    """The baseline's classifier: standardisation then multinomial logistic regression.

    Examples
    --------
    >>> make_classifier().steps[-1][0]
    'logisticregression'
    """
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))


@dataclass
class BaselineResult:
    """Leave-one-speaker-out predictions of the prosodic baseline.

    Attributes
    ----------
    labels : list of str
        Class order of ``confusion``.
    predictions : pandas.Series
        Predicted label per utterance (aligned with the input rows).
    confusion : pandas.DataFrame
        Counts, true labels in rows, predicted in columns.
    weighted_accuracy : float
        Plain accuracy (WA).
    unweighted_recall : float
        Balanced accuracy (UA), the mean of per-class recalls.
    """

    labels: list[str]
    predictions: pd.Series
    confusion: pd.DataFrame
    weighted_accuracy: float
    unweighted_recall: float
    per_speaker: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))

    def most_confused_pair(self) -> tuple[str, str]:
        """The two classes most often mistaken for each other (both directions summed)."""
        counts = self.confusion.to_numpy()
        sym = counts + counts.T
        np.fill_diagonal(sym, -1)
        i, j = np.unravel_index(np.argmax(sym), sym.shape)
        return tuple(sorted((self.labels[i], self.labels[j])))  # type: ignore[return-value]


def loso_baseline(
    features: pd.DataFrame,
    labels: Sequence[str],
    speakers: Sequence[str],
    speaker_normalize: bool = True,
    C: float = 1.0,
    seed: int = 0,
) -> BaselineResult:
    """Leave-one-speaker-out logistic regression on prosodic features.

    Parameters
    ----------
    features : pandas.DataFrame
        One row per utterance (e.g. from :func:`extract_prosodic_features`).
    labels, speakers : sequence of str
        Emotion and speaker of every row.
    speaker_normalize : bool
        Z-score features within each speaker first.
    C : float
        Inverse regularisation strength.
    seed : int
        Seed of the solver.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["anger", "sadness"], 40)
    >>> spk = np.tile(["a", "b", "c", "d"], 20)
    >>> X = pd.DataFrame({"f": rng.normal(size=80) + (y == "anger") * 3})
    >>> loso_baseline(X, y, spk).weighted_accuracy > 0.9
    True
    """
    labels = np.asarray(labels, dtype=object)
    speakers = np.asarray(speakers, dtype=object)
    if not (len(features) == len(labels) == len(speakers)):
        raise EmocircError(
            f"{len(features)} feature rows, {len(labels)} labels, {len(speakers)} speakers: expected equal lengths"
        )
    groups = np.unique(speakers)
    if groups.size < 2:
        raise EmocircError(f"{groups.size} speaker(s): leave-one-speaker-out needs at least two")
    X = normalize_per_speaker(features, speakers) if speaker_normalize else features.astype(float)
    X = X.fillna(X.mean()).fillna(0.0).to_numpy()
    pred = np.empty(len(labels), dtype=object)
    per_speaker = {}
    for spk in groups:
        test = speakers == spk
        clf = make_classifier(C=C, seed=seed).fit(X[~test], labels[~test])
        pred[test] = clf.predict(X[test])
        per_speaker[spk] = weighted_accuracy(labels[test], pred[test])
    from emocirc.labels import label_order

    order = label_order(np.unique(labels))
    cm = confusion_matrix(labels, pred, labels=order)
    return BaselineResult(
        labels=order,
        predictions=pd.Series(pred, index=features.index, name="predicted"),
        confusion=pd.DataFrame(
            cm, index=pd.Index(order, name="true"), columns=pd.Index(order, name="predicted")
        ),
        weighted_accuracy=weighted_accuracy(labels, pred),
        unweighted_recall=unweighted_recall(labels, pred),
        per_speaker=pd.Series(per_speaker, name="accuracy"),
    )


def binary_loso(
    features: pd.DataFrame,
    labels: Sequence[str],
    speakers: Sequence[str],
    positive: Sequence[str],
    negative: Sequence[str],
    **kwargs: object,
) -> float:
    """Balanced accuracy of a leave-one-speaker-out two-group classifier (e.g. high vs low arousal).

    Rows whose label is in neither group are left out.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = np.repeat(["anger", "fear", "sadness"], 30)
    >>> X = pd.DataFrame({"f": rng.normal(size=90) + np.isin(y, ["anger", "fear"]) * 4})
    >>> binary_loso(X, y, np.tile(["a", "b", "c"], 30), HIGH_AROUSAL, LOW_AROUSAL) > 0.9
    True
    """
    labels = np.asarray(labels, dtype=object)
    keep = np.isin(labels, list(positive)) | np.isin(labels, list(negative))
    group = np.where(np.isin(labels[keep], list(positive)), "positive", "negative")
    result = loso_baseline(features.loc[keep], group, np.asarray(speakers, dtype=object)[keep], **kwargs)
    return result.unweighted_recall


def pairwise_accuracies(
    features: pd.DataFrame, labels: Sequence[str], speakers: Sequence[str], **kwargs: object
) -> pd.Series:
    """Balanced accuracy of every two-class leave-one-speaker-out problem, lowest (hardest) first.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> y = np.repeat(["anger", "happiness", "sadness"], 30)
    >>> X = pd.DataFrame({"f": rng.normal(size=90) + (y == "sadness") * 4})
    >>> pairwise_accuracies(X, y, np.tile(["a", "b", "c"], 30)).index[0]
    ('anger', 'happiness')
    """
    labels = np.asarray(labels, dtype=object)
    from emocirc.labels import label_order

    if kwargs.pop("speaker_normalize", True):
        # Normalise once over each speaker's whole set (no labels involved),
        # so every pair sees the same features.
        features = normalize_per_speaker(features, speakers)
    classes = label_order(np.unique(labels))
    scores = {
        (a, b): binary_loso(features, labels, speakers, [a], [b], speaker_normalize=False, **kwargs)
        for a, b in combinations(classes, 2)
    }
    return pd.Series(scores, name="balanced_accuracy").sort_values(kind="stable")
