"""Layer-wise linear probes: how much emotion each hidden state holds.

:func:`layer_probe` fits, for every hidden state of a features file, a
linear model on the speakers it is trained on and scores it on speakers it
never saw:

==============  =================================  ========================
target          probe                              score
==============  =================================  ========================
``"label"``     logistic regression (balanced)     unweighted average recall
``"arousal"``   ridge regression                   concordance correlation
``"valence"``   ridge regression                   concordance correlation
==============  =================================  ========================

Folds are built from groups (speakers by default; pass a corpus's
``session`` column for IEMOCAP's leave-one-session-out), standardisation is
fitted inside each training fold, and the held-out predictions of all folds
are pooled before scoring, so one number per layer and target summarises the
whole corpus.  The spread of the per-fold scores comes alongside; it is
not an interval.  With ``predictions=True`` the probes also return every
held-out prediction, and :func:`probe_intervals` (each score's interval)
and :func:`probe_difference` (two probes on the same utterances, with a
verdict) resample them by the book's speaker bootstrap
(:mod:`emocirc.inference`).

The SUPERB-style probes (Yang et al. 2021) ask what each hidden state holds
of the speech itself, the evidence that pre-training taught a model
something (chapter "Pre-training in miniature"):

- :func:`phoneme_probe`: frame-level phoneme classification, a linear model
  on each layer's 20 ms frames, trained on some speakers and scored on
  speakers it never saw (frame accuracy; labels from the read-speech
  corpus's alignments, :mod:`emocirc.readspeech`).
- :func:`speaker_probe`: speaker identification from each layer's frames
  mean-pooled over the utterance.  As in SUPERB's SID task the held-out
  part is *utterances*, not speakers: the probe must name a speaker it was
  trained on from recordings it has not heard.
- :func:`probe_margin`: by how much one model beats another on a probe,
  with a bootstrap interval over the held-out speakers (both results must
  hold out the same ones), so that "A beats B by m [lo, hi]" can be said or
  not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from emocirc.circumplex import ridge_valence_arousal
from emocirc.errors import EmocircError
from emocirc.inference import (
    PairedDifference,
    ccc_interval,
    paired_difference,
    speaker_bootstrap,
)
from emocirc.metrics import concordance_correlation, unweighted_recall

#: Targets :func:`layer_probe` knows, with the metric each is scored by.
TARGETS: dict[str, str] = {"label": "unweighted_recall", "arousal": "ccc", "valence": "ccc"}

#: Columns of the table :func:`layer_probe` returns.
COLUMNS: tuple[str, ...] = ("layer", "target", "metric", "score", "fold_std", "chance", "folds", "n")


def _targets(target: str | Sequence[str]) -> list[str]:
    names = [target] if isinstance(target, str) else list(target)
    bad = [t for t in names if t not in TARGETS]
    if bad or not names:
        raise EmocircError(f"target={target!r}: expected one or more of {', '.join(TARGETS)}")
    return names


def _splitter(groups: np.ndarray, n_splits: int | None, seed: int):
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise EmocircError(
            f"groups: expected at least 2 speakers (or sessions) for a speaker-independent probe, "
            f"got {n_groups}"
        )
    if n_splits is None or n_splits >= n_groups:
        return LeaveOneGroupOut()
    if n_splits < 2:
        raise EmocircError(f"n_splits={n_splits}: expected at least 2, or None for one group per fold")
    # Shuffled so that the seed decides which speakers share a fold.
    return GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def _probe_one(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, splitter: Any, target: str, alpha: float, C: float
) -> tuple[float, float, int, np.ndarray, np.ndarray]:
    classify = target == "label"
    pred = np.full(len(X), "", dtype=object) if classify else np.full(len(X), np.nan)
    fold = np.full(len(X), -1)
    fold_scores = []
    splits = list(splitter.split(X, groups=groups))
    for number, (train, test) in enumerate(splits):
        fold[test] = number
        if classify:
            # Balanced class weights: the score is UA, so every class counts the same.
            model = make_pipeline(
                StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
            )
        else:
            model = ridge_valence_arousal(alpha)
        pred[test] = model.fit(X[train], y[train]).predict(X[test])
        if classify:
            fold_scores.append(unweighted_recall(y[test], pred[test].astype(str)))
        elif len(test) >= 2 and np.ptp(y[test]) > 0:
            fold_scores.append(concordance_correlation(y[test], pred[test]))
    if classify:
        score = unweighted_recall(y, pred.astype(str))
    else:
        score = concordance_correlation(y, pred)
    fold_std = float(np.std(fold_scores)) if fold_scores else float("nan")
    return score, fold_std, len(splits), pred, fold


def layer_probe(
    features: Any,
    target: str | Sequence[str] = "label",
    *,
    groups: Any = None,
    n_splits: int | None = 5,
    layers: Sequence[int] | None = None,
    alpha: float = 1.0,
    C: float = 1.0,
    seed: int = 0,
    threads: int | None = 1,
    predictions: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Score a speaker-independent linear probe on every hidden state.

    Parameters
    ----------
    features:
        A :class:`~emocirc.features.Features` (``embeddings`` N x L x D,
        ``layers``, ``labels``, ``speakers``, ``valence``, ``arousal``).
    target:
        ``"label"``, ``"arousal"``, ``"valence"`` or a list of them.
        Utterances without the target (empty label, NaN rating) are left out
        of that target's probe.
    groups:
        One group per utterance that never straddles training and test
        (default: ``features.speakers``; a corpus's ``session`` column gives
        leave-one-session-out).
    n_splits:
        Number of group folds (``GroupKFold``, shuffled by ``seed``); ``None``
        or at least the number of groups holds out one group per fold.
    layers:
        Hidden-state indices to probe (default: all in ``features.layers``).
    alpha, C:
        Ridge penalty; inverse logistic-regression penalty.
    seed:
        Seed of the fold assignment.
    threads:
        BLAS threads of the fits (``None``: the library's default); see :func:`phoneme_probe`.
    predictions:
        Also return every held-out prediction (what :func:`probe_intervals`
        and :func:`probe_difference` resample).

    Returns
    -------
    pandas.DataFrame
        One row per layer and target, columns :data:`COLUMNS`: ``metric``
        (``unweighted_recall`` or ``ccc``), ``score`` (pooled over the folds'
        held-out predictions), ``fold_std`` (spread of per-fold scores),
        ``chance`` (1 / classes for UA, 0 for CCC), ``folds`` and ``n``
        (utterances scored).
    pandas.DataFrame, with ``predictions=True``
        A second table, one row per layer, target and utterance scored,
        columns :data:`PREDICTION_COLUMNS`: the utterance's ``id`` and
        ``speaker`` (``features.speakers``, whatever ``groups`` folded by),
        ``truth``, the out-of-fold ``prediction`` (a label, or a rating as a
        number) and the ``fold`` that held it out.

    Examples
    --------
    >>> import numpy as np
    >>> from emocirc.features import Features
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["anger", "sadness"], 40)
    >>> signal = np.where(y == "anger", 1.0, -1.0)[:, None]
    >>> emb = np.stack([rng.normal(size=(80, 3)), rng.normal(size=(80, 3)) + signal], axis=1)
    >>> f = Features(ids=np.arange(80).astype(str), labels=y, speakers=np.tile(list("abcd"), 20),
    ...              embeddings=emb.astype("float32"), layers=np.array([0, 1]),
    ...              valence=np.full(80, np.nan), arousal=signal[:, 0] + rng.normal(0, 0.3, 80))
    >>> table = layer_probe(f, ["label", "arousal"], n_splits=None)
    >>> table.shape, table["metric"].unique().tolist()
    ((4, 8), ['unweighted_recall', 'ccc'])
    >>> scores = table.pivot(index="layer", columns="target", values="score")
    >>> bool((scores.loc[1] > scores.loc[0] + 0.3).all())  # only layer 1 holds the emotion
    True
    """
    names = _targets(target)
    embeddings = np.asarray(features.embeddings, dtype=float)
    if embeddings.ndim != 3:
        raise EmocircError(
            f"embeddings: expected utterances x layers x dimensions, got shape {embeddings.shape}"
        )
    n = len(embeddings)
    all_layers = np.asarray(features.layers).astype(int).tolist()
    chosen = all_layers if layers is None else [int(k) for k in layers]
    missing = [k for k in chosen if k not in all_layers]
    if missing:
        raise EmocircError(f"layers {missing} are not in these features; expected some of {all_layers}")
    groups = np.asarray(features.speakers if groups is None else groups).astype(str)
    if groups.shape != (n,):
        raise EmocircError(f"groups: expected {n} values (one per utterance), got shape {groups.shape}")
    if not np.isfinite(embeddings).all():
        raise EmocircError("embeddings: expected finite values, found NaN or infinity")

    rows, held_out = [], []
    ids = np.asarray(features.ids).astype(str)
    speakers = np.asarray(features.speakers).astype(str)
    prepared = {}
    for name in names:
        if name == "label":
            y = np.asarray(features.labels).astype(str)
            keep = y != ""
            classes = np.unique(y[keep])
            if len(classes) < 2:
                raise EmocircError(f"labels: expected at least 2 emotions to probe, got {classes.tolist()}")
            chance = 1.0 / len(classes)
        else:
            y = np.asarray(getattr(features, name), dtype=float)
            keep = np.isfinite(y)
            if keep.sum() < 2:
                raise EmocircError(
                    f"{name}: expected ratings for at least 2 utterances, got {int(keep.sum())}"
                )
            chance = 0.0
        idx = np.flatnonzero(keep)
        prepared[name] = (idx, y[idx], _splitter(groups[idx], n_splits, seed), chance)
    with threadpool_limits(limits=threads):
        for k in chosen:
            X = embeddings[:, all_layers.index(k)]
            for name in names:
                idx, y, splitter, chance = prepared[name]
                score, fold_std, n_folds, pred, fold = _probe_one(
                    X[idx], y, groups[idx], splitter, name, alpha, C
                )
                rows.append((k, name, TARGETS[name], score, fold_std, chance, n_folds, len(idx)))
                if predictions:
                    held_out.append(_prediction_frame(k, name, ids[idx], speakers[idx], y, pred, fold))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    if not predictions:
        return table
    return table, pd.concat(held_out, ignore_index=True)


#: Columns of the held-out predictions :func:`layer_probe` returns with ``predictions=True``.
PREDICTION_COLUMNS: tuple[str, ...] = ("layer", "target", "id", "speaker", "truth", "prediction", "fold")


def _prediction_frame(layer, target, ids, speakers, truth, pred, fold) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": int(layer),
            "target": target,
            "id": ids,
            "speaker": speakers,
            "truth": truth.astype(object),
            "prediction": pred.astype(object),
            "fold": fold.astype(int),
        },
        columns=list(PREDICTION_COLUMNS),
    )


def best_layers(table: pd.DataFrame) -> pd.Series:
    """The layer with the highest score for each target of a :func:`layer_probe` table.

    Examples
    --------
    >>> t = pd.DataFrame({"layer": [0, 1, 0, 1], "target": ["label", "label", "arousal", "arousal"],
    ...                   "score": [0.3, 0.5, 0.7, 0.2]})
    >>> best_layers(t).to_dict()
    {'arousal': 0, 'label': 1}
    """
    missing = {"layer", "target", "score"} - set(table.columns)
    if missing:
        raise EmocircError(f"probe table: expected columns layer, target, score; missing {sorted(missing)}")
    best = table.loc[table.groupby("target")["score"].idxmax()]
    return best.set_index("target")["layer"].astype(int).rename("best layer")


def layer_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per target: best layer and score, last layer's score, spread across layers and across folds.

    ``across_layers`` (best minus worst score over the hidden states) set
    against ``across_folds`` (mean per-fold standard deviation) says whether
    the choice of layer matters more than which speakers are held out.

    Examples
    --------
    >>> t = pd.DataFrame({"layer": [0, 1, 2], "target": ["label"] * 3, "score": [0.30, 0.50, 0.45],
    ...                   "fold_std": [0.05, 0.04, 0.06]})
    >>> layer_summary(t).round(3).to_dict("records")
    [{'best_layer': 1, 'best': 0.5, 'last': 0.45, 'across_layers': 0.2, 'across_folds': 0.05}]
    """
    missing = {"layer", "target", "score", "fold_std"} - set(table.columns)
    if missing:
        raise EmocircError(
            f"probe table: expected columns layer, target, score, fold_std; missing {sorted(missing)}"
        )
    out = {}
    for target, rows in table.groupby("target", sort=False):
        rows = rows.sort_values("layer")
        scores = rows["score"].to_numpy(float)
        out[target] = {
            "best_layer": int(rows["layer"].iloc[int(np.argmax(scores))]),
            "best": float(scores.max()),
            "last": float(scores[-1]),
            "across_layers": float(scores.max() - scores.min()),
            "across_folds": float(rows["fold_std"].mean()),
        }
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("target")


# --------------------------------------------------------------------------- SUPERB-style probes

#: Columns of :attr:`FrameProbeResult.table`.
FRAME_COLUMNS: tuple[str, ...] = (
    "layer", "target", "metric", "score", "chance", "classes", "n_train", "n_test", "groups",
)  # fmt: skip


@dataclass
class FrameProbeResult:
    """What :func:`phoneme_probe` or :func:`speaker_probe` found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per layer, columns :data:`FRAME_COLUMNS`: ``score`` is the
        accuracy on the held-out part, ``chance`` the accuracy of always
        answering the commonest training class, ``classes`` the number of
        classes, ``n_train``/``n_test`` the frames (or utterances) fitted and
        scored, ``groups`` the number of held-out speakers.
    correct : pandas.DataFrame
        Per layer and held-out speaker: ``correct`` and ``total`` predictions,
        what :func:`probe_margin` resamples.
    """

    table: pd.DataFrame
    correct: pd.DataFrame

    def score(self, layer: int) -> float:
        """Held-out accuracy of ``layer``."""
        rows = self.table[self.table["layer"] == int(layer)]
        if rows.empty:
            raise EmocircError(
                f"layer {layer} is not in this probe; expected one of {self.table['layer'].tolist()}"
            )
        return float(rows["score"].iloc[0])


def _linear_classifier(C: float, max_iter: int):
    # Standardised inputs and a multinomial logistic regression: SUPERB's linear probe.
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))


def _frame_arrays(features: Any) -> tuple[list[np.ndarray], list[int]]:
    frames = getattr(features, "frames", None)
    if frames is None:
        raise EmocircError(
            "features: expected frame-level hidden states (extract_features(..., frames=True)), got pooled ones"
        )
    layers = np.asarray(features.layers).astype(int).tolist()
    for i, f in enumerate(frames):
        if f.ndim != 3 or f.shape[0] != len(layers):
            raise EmocircError(
                f"frames of utterance {features.ids[i]}: expected layers x frames x dimensions "
                f"with {len(layers)} layers, got shape {f.shape}"
            )
    return list(frames), layers


def _held_out_speakers(
    speakers: np.ndarray, test_speakers: Sequence[str] | None, test_fraction: float, seed: int
):
    names = np.unique(speakers)
    if test_speakers is None:
        if not 0 < test_fraction < 1:
            raise EmocircError(f"test_fraction={test_fraction}: expected a number in (0, 1)")
        n_test = int(np.clip(round(test_fraction * len(names)), 1, len(names) - 1)) if len(names) > 1 else 0
        test = set(np.random.default_rng(seed).permutation(names)[:n_test].tolist())
    else:
        test = {str(s) for s in test_speakers}
        unknown = test - set(names)
        if unknown:
            raise EmocircError(f"test_speakers {sorted(unknown)}: not among the features' speakers")
    if not test or test == set(names):
        raise EmocircError(
            f"speakers: expected at least one speaker to train on and one to test on, got {len(names)} speakers"
        )
    return test


def _chosen_layers(all_layers: list[int], layers: Sequence[int] | None) -> list[int]:
    chosen = all_layers if layers is None else [int(k) for k in layers]
    missing = [k for k in chosen if k not in all_layers]
    if missing:
        raise EmocircError(f"layers {missing} are not in these features; expected some of {all_layers}")
    return chosen


def phoneme_probe(
    features: Any,
    frame_labels: Sequence[Sequence[str]],
    *,
    layers: Sequence[int] | None = None,
    test_speakers: Sequence[str] | None = None,
    test_fraction: float = 0.25,
    ignore: Sequence[str] = ("sil",),
    min_frames: int = 20,
    max_train_frames: int = 20000,
    C: float = 1.0,
    max_iter: int = 300,
    threads: int | None = 1,
    seed: int = 0,
) -> FrameProbeResult:
    """Frame-level phoneme classification per layer, scored on speakers held out of the probe's training.

    Parameters
    ----------
    features:
        A :class:`~emocirc.features.Features` with frame-level hidden states
        (``extract_features(..., frames=True)``): ``frames[i]`` is layers x
        T_i x D, ``speakers[i]`` its speaker.
    frame_labels:
        The phoneme of each frame of each utterance, in the features' order
        (e.g. the ``phone`` column of :func:`emocirc.readspeech.read_alignment`);
        ``len(frame_labels[i])`` must be T_i.
    layers:
        Hidden states to probe (default: all).
    test_speakers:
        The held-out speakers; default: ``test_fraction`` of them, drawn with ``seed``.
    ignore:
        Labels left out of training and scoring (silence, by default, so the
        probe measures phonetic content, not loudness).
    min_frames:
        Phonemes with fewer training frames are left out of both sides.
    max_train_frames:
        At most this many training frames, drawn with ``seed`` (cost bound).
    C, max_iter:
        Inverse L2 penalty and iterations of the logistic regression.
    threads:
        BLAS threads of the fit (``None``: the library's default).  One is
        fastest for fits this small on a shared machine: a 1,000-frame fit
        took 0.18 s on one thread and 6.2 s on two on this project's busy
        2-core machine, where threads wait on each other.
    seed:
        Seed of the speaker split and the frame subsample.

    Returns
    -------
    FrameProbeResult
        ``metric`` is ``"frame_accuracy"``.

    Examples
    --------
    >>> import numpy as np
    >>> from emocirc.features import Features
    >>> rng = np.random.default_rng(0)
    >>> phones = [rng.choice(list("abcd"), size=40) for _ in range(12)]
    >>> code = {p: rng.normal(size=8) for p in "abcd"}
    >>> frames = [np.stack([rng.normal(size=(40, 8)),                       # layer 0: noise
    ...                     np.array([code[p] for p in ph]) + rng.normal(0, 0.3, (40, 8))])
    ...           for ph in phones]                                          # layer 1: the phoneme
    >>> f = Features(ids=np.arange(12).astype(str), labels=np.full(12, ""),
    ...              speakers=np.repeat(list("wxyz"), 3), embeddings=np.stack([x.mean(1) for x in frames]),
    ...              layers=np.array([0, 1]), valence=np.full(12, np.nan), arousal=np.full(12, np.nan),
    ...              frames=frames)
    >>> result = phoneme_probe(f, phones)
    >>> result.score(1) > 0.95, result.score(0) < 0.4
    (True, True)
    """
    frames, all_layers = _frame_arrays(features)
    chosen = _chosen_layers(all_layers, layers)
    if len(frame_labels) != len(frames):
        raise EmocircError(f"frame_labels: expected {len(frames)} utterances, got {len(frame_labels)}")
    labels = []
    for i, (f, lab) in enumerate(zip(frames, frame_labels, strict=True)):
        lab = np.asarray(lab).astype(str)
        if len(lab) != f.shape[1]:
            raise EmocircError(
                f"utterance {features.ids[i]}: {len(lab)} frame labels for {f.shape[1]} frames; "
                "expected an alignment at the backbone's frame rate"
            )
        labels.append(lab)
    speakers = np.asarray(features.speakers).astype(str)
    test = _held_out_speakers(speakers, test_speakers, test_fraction, seed)
    y = np.concatenate(labels)
    utt = np.repeat(np.arange(len(frames)), [len(lab) for lab in labels])
    group = speakers[utt]
    is_test = np.isin(group, sorted(test))
    keep = ~np.isin(y, list(ignore))
    train_classes, counts = np.unique(y[keep & ~is_test], return_counts=True)
    classes = train_classes[counts >= min_frames]
    if len(classes) < 2:
        raise EmocircError(
            f"frame_labels: expected at least 2 phonemes with {min_frames} training frames each"
        )
    keep &= np.isin(y, classes)
    train = np.flatnonzero(keep & ~is_test)
    test_idx = np.flatnonzero(keep & is_test)
    if len(train) > max_train_frames:
        train = np.sort(np.random.default_rng(seed).choice(train, max_train_frames, replace=False))
    values, counts = np.unique(y[train], return_counts=True)
    majority = values[np.argmax(counts)]
    chance = float(np.mean(y[test_idx] == majority))
    return _fit_layers(
        lambda k: np.concatenate([f[all_layers.index(k)] for f in frames]),
        chosen, y, group, train, test_idx, "phone", "frame_accuracy", chance, len(classes), C, max_iter, threads,
    )  # fmt: skip


def speaker_probe(
    features: Any,
    *,
    layers: Sequence[int] | None = None,
    test_fraction: float = 0.3,
    C: float = 1.0,
    max_iter: int = 1000,
    threads: int | None = 1,
    seed: int = 0,
) -> FrameProbeResult:
    """Speaker identification per layer from mean-pooled frames, on held-out *utterances* (SUPERB's SID).

    Every speaker's utterances are split: ``test_fraction`` of them (at
    least one, drawn with ``seed``) are scored, the rest train the probe.
    The held-out part is utterances, not speakers: identifying a speaker
    needs the probe to have met them.  ``features.embeddings`` (each
    layer's frames averaged over the utterance) are the inputs, so pooled
    features do; speakers with a single utterance are left out.  ``C``,
    ``max_iter`` and ``threads`` are those of :func:`phoneme_probe`.

    Returns
    -------
    FrameProbeResult
        ``metric`` is ``"utterance_accuracy"``; ``chance`` the commonest speaker's share.

    Examples
    --------
    >>> import numpy as np
    >>> from emocirc.features import Features
    >>> rng = np.random.default_rng(0)
    >>> spk = np.repeat([f"s{i}" for i in range(6)], 8)
    >>> voice = {s: rng.normal(size=16) for s in np.unique(spk)}
    >>> emb = np.stack([rng.normal(size=(48, 16)), np.array([voice[s] for s in spk]) + rng.normal(0, .3, (48, 16))], 1)
    >>> f = Features(ids=np.arange(48).astype(str), labels=np.full(48, ""), speakers=spk, embeddings=emb,
    ...              layers=np.array([0, 1]), valence=np.full(48, np.nan), arousal=np.full(48, np.nan))
    >>> r = speaker_probe(f)
    >>> r.score(1), r.score(0) < 0.5
    (1.0, True)
    """
    embeddings = np.asarray(features.embeddings, dtype=float)
    if embeddings.ndim != 3:
        raise EmocircError(
            f"embeddings: expected utterances x layers x dimensions, got shape {embeddings.shape}"
        )
    all_layers = np.asarray(features.layers).astype(int).tolist()
    chosen = _chosen_layers(all_layers, layers)
    if not 0 < test_fraction < 1:
        raise EmocircError(f"test_fraction={test_fraction}: expected a number in (0, 1)")
    speakers = np.asarray(features.speakers).astype(str)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for name in np.unique(speakers):
        idx = rng.permutation(np.flatnonzero(speakers == name))
        if len(idx) < 2:
            continue
        n_test = int(np.clip(round(test_fraction * len(idx)), 1, len(idx) - 1))
        test.extend(idx[:n_test].tolist())
        train.extend(idx[n_test:].tolist())
    train, test = np.sort(train), np.sort(test)
    if len(np.unique(speakers[train])) < 2:
        raise EmocircError("speakers: expected at least 2 speakers with 2 or more utterances each")
    values, counts = np.unique(speakers[train], return_counts=True)
    chance = float(np.mean(speakers[test] == values[np.argmax(counts)]))
    return _fit_layers(
        lambda k: embeddings[:, all_layers.index(k)],
        chosen, speakers, speakers, train, test, "speaker", "utterance_accuracy", chance, len(values), C, max_iter,
        threads,
    )  # fmt: skip


def _fit_layers(
    layer_inputs, chosen, y, group, train, test, target, metric, chance, n_classes, C, max_iter, threads
) -> FrameProbeResult:
    with threadpool_limits(limits=threads):
        return _fit_each_layer(layer_inputs, chosen, y, group, train, test, target, metric, chance, n_classes, C,
                               max_iter)  # fmt: skip


def _fit_each_layer(
    layer_inputs, chosen, y, group, train, test, target, metric, chance, n_classes, C, max_iter
) -> FrameProbeResult:
    rows, correct_rows = [], []
    for k in chosen:
        X = np.asarray(layer_inputs(k), dtype=np.float64)
        if not np.isfinite(X).all():
            raise EmocircError(f"layer {k}: expected finite features, found NaN or infinity")
        model = _linear_classifier(C, max_iter).fit(X[train], y[train])
        hit = model.predict(X[test]) == y[test]
        per_group = (
            pd.DataFrame({"group": group[test], "hit": hit}).groupby("group")["hit"].agg(["sum", "count"])
        )
        for name, (n_correct, n_total) in per_group.iterrows():
            correct_rows.append((k, name, int(n_correct), int(n_total)))
        rows.append(
            (k, target, metric, float(hit.mean()), chance, n_classes, len(train), len(test), len(per_group))
        )
    return FrameProbeResult(
        table=pd.DataFrame(rows, columns=list(FRAME_COLUMNS)),
        correct=pd.DataFrame(correct_rows, columns=["layer", "group", "correct", "total"]),
    )


def probe_margin(
    a: FrameProbeResult,
    b: FrameProbeResult,
    layer_a: int | None = None,
    layer_b: int | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """How much probe ``a`` beats probe ``b``: accuracy difference with a speaker-level bootstrap interval.

    Both probes must have scored the same held-out speakers (the same
    features' speakers and split seed).  The interval is the book's speaker
    bootstrap (:func:`emocirc.inference.speaker_bootstrap`, whose notes
    document the scheme): each resample draws the held-out speakers with
    replacement, each bringing all their frames (``within=False``: the
    probe result keeps per-speaker counts, not single frames), and
    recomputes both accuracies (a paired comparison: a speaker who is hard
    for one model is drawn for both); the interval is the percentile
    interval of the differences.

    Parameters
    ----------
    a, b:
        Results of the same probe for two models.
    layer_a, layer_b:
        The layers compared (default: each result's best).  Picking the
        best layer on the held-out speakers favours that result a little;
        pass layers chosen beforehand for a strict comparison.
    n_boot, level, seed:
        Bootstrap samples, interval coverage, seed.

    Returns
    -------
    dict
        ``margin`` (accuracy of ``a`` minus ``b``), ``lo``, ``hi``,
        ``layer_a``, ``layer_b``, ``groups`` (held-out speakers) and
        ``scheme`` (the interval's scheme in one sentence, for the page).

    Examples
    --------
    >>> good = FrameProbeResult(pd.DataFrame({"layer": [1], "score": [0.8]}),
    ...     pd.DataFrame({"layer": 1, "group": list("abcd"), "correct": [80, 75, 85, 80], "total": 100}))
    >>> bad = FrameProbeResult(pd.DataFrame({"layer": [1], "score": [0.3]}),
    ...     pd.DataFrame({"layer": 1, "group": list("abcd"), "correct": [30, 25, 35, 30], "total": 100}))
    >>> m = probe_margin(good, bad)
    >>> round(m["margin"], 2), m["lo"] > 0.4, m["groups"]
    (0.5, True, 4)
    """
    if not 0 < level < 1:
        raise EmocircError(f"level={level}: expected a number in (0, 1)")

    def per_group(result: FrameProbeResult, layer: int | None) -> tuple[int, pd.DataFrame]:
        if layer is None:
            layer = int(result.table.loc[result.table["score"].idxmax(), "layer"])
        rows = result.correct[result.correct["layer"] == int(layer)].set_index("group")
        if rows.empty:
            raise EmocircError(f"layer {layer} is not in this probe result")
        return int(layer), rows.sort_index()

    layer_a, ga = per_group(a, layer_a)
    layer_b, gb = per_group(b, layer_b)
    if list(ga.index) != list(gb.index) or not np.array_equal(ga["total"], gb["total"]):
        raise EmocircError(
            "probe results: expected the same held-out speakers and frames in both (same features, same seed)"
        )
    ca, cb, n = (x.to_numpy(float) for x in (ga["correct"], gb["correct"], ga["total"]))
    if len(n) < 2:  # nothing to resample: no interval, and describe_margin says it is not resolved
        return {
            "margin": float((ca.sum() - cb.sum()) / n.sum()), "lo": float("nan"), "hi": float("nan"),
            "layer_a": layer_a, "layer_b": layer_b, "groups": len(n),
            "scheme": "no interval: a speaker bootstrap needs at least 2 held-out speakers, this probe has 1",
        }  # fmt: skip
    res = speaker_bootstrap(
        lambda idx: (ca[idx].sum() - cb[idx].sum()) / n[idx].sum(),
        np.arange(len(n)),
        n_resamples=n_boot,
        confidence_level=level,
        seed=seed,
        within=False,
        names=["margin"],
    )
    return {
        "margin": float(res.estimate[0]), "lo": float(res.low[0]), "hi": float(res.high[0]),
        "layer_a": layer_a, "layer_b": layer_b, "groups": len(n), "scheme": res.describe(),
    }  # fmt: skip


def describe_margin(margin: dict[str, float], a: str = "pre-trained", b: str = "random init") -> str:
    """One phrase for a :func:`probe_margin` result: who is ahead, by how much, and whether the interval says so.

    Examples
    --------
    >>> describe_margin({"margin": 0.12, "lo": 0.08, "hi": 0.15})
    'pre-trained ahead by +0.120 [+0.080, +0.150]'
    >>> describe_margin({"margin": 0.01, "lo": -0.02, "hi": 0.04})
    '+0.010 [-0.020, +0.040]: the interval does not resolve it'
    """
    interval = f"{margin['margin']:+.3f} [{margin['lo']:+.3f}, {margin['hi']:+.3f}]"
    if margin["lo"] > 0:
        return f"{a} ahead by {interval}"
    if margin["hi"] < 0:
        return f"{b} ahead: {interval}"
    return f"{interval}: the interval does not resolve it"


# --- The SUPERB-style weighted sum of hidden states -------------------------


class WeightedLayerProbe(ClassifierMixin, BaseEstimator):
    """A linear classifier over a learned, softmax-weighted sum of all hidden states.

    SUPERB scores a frozen encoder this way instead of picking one layer
    (Yang et al. 2021, SUPERB): one scalar weight per hidden state, normalised by
    a softmax, mixes the (mean-pooled) hidden states into one vector, and a
    linear layer classifies it; weights and classifier are learned jointly.
    Each hidden state is standardised first (statistics of the training
    utterances), so a weight says how much the layer's information counts,
    not how large its values are.  Training is full-batch Adam on the
    class-balanced cross-entropy (the score is UA) with an L2 penalty on the
    classifier, in float64 on one CPU thread from a seeded initialisation: the
    same inputs and seed give the same weights.

    Parameters
    ----------
    epochs:
        Full-batch optimisation steps.
    lr:
        Adam's learning rate.
    l2:
        Penalty on the classifier's weights (the layer weights are not penalised).
    seed:
        Seed of the classifier's initialisation.

    Attributes
    ----------
    classes_ : numpy.ndarray
        The labels, in the order of ``predict_proba``'s columns.
    layer_weights_ : numpy.ndarray
        Softmax-normalised weight of each hidden state (sums to 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["anger", "sadness"], 30)
    >>> X = rng.normal(size=(60, 3, 4))
    >>> X[:, 2, 0] += np.where(y == "anger", 2.0, -2.0)  # only hidden state 2 holds the emotion
    >>> probe = WeightedLayerProbe(seed=0).fit(X, y)
    >>> int(np.argmax(probe.layer_weights_)), float(np.mean(probe.predict(X) == y)) > 0.9
    (2, True)
    """

    def __init__(self, epochs: int = 300, lr: float = 0.05, l2: float = 1e-3, seed: int = 0) -> None:
        self.epochs = epochs
        self.lr = lr
        self.l2 = l2
        self.seed = seed

    @staticmethod
    def _check(X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3:
            raise EmocircError(f"embeddings: expected utterances x layers x dimensions, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise EmocircError("embeddings: expected finite values, found NaN or infinity")
        return X

    def fit(self, X: Any, y: Any) -> WeightedLayerProbe:
        """Learn the layer weights and the classifier from ``X`` (N x L x D) and labels ``y``."""
        import torch

        X = self._check(X)
        y = np.asarray(y).astype(str)
        if y.shape != (len(X),):
            raise EmocircError(f"labels: expected {len(X)} (one per utterance), got shape {y.shape}")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise EmocircError(f"labels: expected at least 2 classes, got {self.classes_.tolist()}")
        if self.epochs < 1 or self.lr <= 0 or self.l2 < 0:
            raise EmocircError(
                f"epochs={self.epochs}, lr={self.lr}, l2={self.l2}: expected epochs >= 1, lr > 0, l2 >= 0"
            )
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        Z = torch.from_numpy((X - self.mean_) / self.scale_)
        target = torch.from_numpy(codes.astype(np.int64))
        counts = np.bincount(codes, minlength=len(self.classes_))
        balance = torch.from_numpy(len(codes) / (len(self.classes_) * counts.astype(np.float64)))
        gen = torch.Generator().manual_seed(int(self.seed))
        n_layers, dim = X.shape[1], X.shape[2]
        logits_w = torch.zeros(n_layers, dtype=torch.float64, requires_grad=True)
        W = (torch.randn(dim, len(self.classes_), generator=gen, dtype=torch.float64) * 0.01).requires_grad_()
        b = torch.zeros(len(self.classes_), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([logits_w, W, b], lr=self.lr)
        loss_fn = torch.nn.CrossEntropyLoss(weight=balance)
        # One thread: these tensors are small, and several threads cost far more in
        # synchronisation than they save (40x slower on a busy 2-core machine).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for _ in range(int(self.epochs)):
                opt.zero_grad()
                mixed = torch.einsum("l,nld->nd", torch.softmax(logits_w, 0), Z)
                loss = loss_fn(mixed @ W + b, target) + self.l2 * (W**2).sum()
                loss.backward()
                opt.step()
        finally:
            torch.set_num_threads(threads)
        with torch.no_grad():
            self.layer_weights_ = torch.softmax(logits_w, 0).numpy().copy()
            self.coef_ = W.numpy().copy()
            self.intercept_ = b.numpy().copy()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores (logits), N x classes."""
        if not hasattr(self, "layer_weights_"):
            raise EmocircError("WeightedLayerProbe: call fit before predicting")
        X = self._check(X)
        if X.shape[1:] != self.mean_.shape:
            raise EmocircError(
                f"embeddings of shape {X.shape}: expected N x {self.mean_.shape[0]} x {self.mean_.shape[1]} "
                "as in training"
            )
        mixed = np.einsum("l,nld->nd", self.layer_weights_, (X - self.mean_) / self.scale_)
        return mixed @ self.coef_ + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the scores), columns in ``classes_`` order."""
        scores = self.decision_function(X)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each utterance."""
        scores = self.decision_function(X)
        return self.classes_[np.argmax(scores, axis=1)]


def weighted_layer_probe(
    features: Any,
    *,
    groups: Any = None,
    n_splits: int | None = 5,
    epochs: int = 300,
    lr: float = 0.05,
    l2: float = 1e-3,
    seed: int = 0,
    predictions: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame] | tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score the SUPERB-style weighted-sum probe on speakers it never saw.

    The folds are those of :func:`layer_probe` with the same ``groups``,
    ``n_splits`` and ``seed``, so the score stands beside the per-layer
    probes' scores; utterances without a label are left out.

    Parameters
    ----------
    features:
        A :class:`~emocirc.features.Features` (``embeddings`` N x L x D,
        ``layers``, ``labels``, ``speakers``).
    groups, n_splits, seed:
        As in :func:`layer_probe` (``seed`` also seeds each fold's probe).
    epochs, lr, l2:
        Passed to :class:`WeightedLayerProbe`.
    predictions:
        Also return the held-out predictions, as :func:`layer_probe` does
        (``layer`` ``-1``).

    Returns
    -------
    score : pandas.DataFrame
        One row with :data:`COLUMNS` (``layer`` is ``-1``, standing for "all
        layers, weighted"; ``target`` ``"label"``; ``metric``
        ``"unweighted_recall"``), UA pooled over the folds' held-out predictions.
    weights : pandas.DataFrame
        The learned layer weights, one row per fold, one column per hidden state.
    predictions : pandas.DataFrame, with ``predictions=True``
        Columns :data:`PREDICTION_COLUMNS`, one row per utterance scored.

    Examples
    --------
    >>> from emocirc.features import Features
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["anger", "sadness"], 40)
    >>> emb = rng.normal(size=(80, 3, 4))
    >>> emb[:, 1, 0] += np.where(y == "anger", 2.0, -2.0)
    >>> f = Features(ids=np.arange(80).astype(str), labels=y, speakers=np.tile(list("abcd"), 20),
    ...              embeddings=emb.astype("float32"), layers=np.array([0, 4, 8]),
    ...              valence=np.full(80, np.nan), arousal=np.full(80, np.nan))
    >>> score, weights = weighted_layer_probe(f, n_splits=None)
    >>> bool(score["score"].iloc[0] > 0.8), weights.columns.tolist(), int(weights.mean().idxmax())
    (True, [0, 4, 8], 4)
    """
    embeddings = WeightedLayerProbe._check(features.embeddings)
    n = len(embeddings)
    y = np.asarray(features.labels).astype(str)
    groups = np.asarray(features.speakers if groups is None else groups).astype(str)
    if groups.shape != (n,) or y.shape != (n,):
        raise EmocircError(
            f"groups and labels: expected {n} values each (one per utterance), got {groups.shape} and {y.shape}"
        )
    idx = np.flatnonzero(y != "")
    classes = np.unique(y[idx])
    if len(classes) < 2:
        raise EmocircError(f"labels: expected at least 2 emotions to probe, got {classes.tolist()}")
    ids = np.asarray(features.ids).astype(str)[idx]
    speakers = np.asarray(features.speakers).astype(str)[idx]
    X, y, groups = embeddings[idx], y[idx], groups[idx]
    splitter = _splitter(groups, n_splits, seed)
    pred = np.full(len(idx), "", dtype=object)
    fold = np.full(len(idx), -1)
    fold_scores, fold_weights = [], []
    splits = list(splitter.split(X, groups=groups))
    for number, (train, test) in enumerate(splits):
        fold[test] = number
        probe = WeightedLayerProbe(epochs=epochs, lr=lr, l2=l2, seed=seed).fit(X[train], y[train])
        pred[test] = probe.predict(X[test])
        fold_scores.append(unweighted_recall(y[test], pred[test].astype(str)))
        fold_weights.append(probe.layer_weights_)
    layers = np.asarray(features.layers).astype(int).tolist()
    row = (
        -1,
        "label",
        TARGETS["label"],
        unweighted_recall(y, pred.astype(str)),
        float(np.std(fold_scores)),
        1.0 / len(classes),
        len(splits),
        len(idx),
    )
    weights = pd.DataFrame(
        np.array(fold_weights), columns=layers, index=pd.RangeIndex(len(splits), name="fold")
    )
    score = pd.DataFrame([row], columns=list(COLUMNS))
    if not predictions:
        return score, weights
    return score, weights, _prediction_frame(-1, "label", ids, speakers, y, pred, fold)


# --- Intervals and comparisons from the held-out predictions ---------------


def _label_codes(*columns: Any) -> tuple[list[np.ndarray], int]:
    """Labels as integer codes over one shared vocabulary (the fast path of the resamples)."""
    arrays = [np.asarray(c).astype(str) for c in columns]
    vocab, inverse = np.unique(np.concatenate(arrays), return_inverse=True)
    bounds = np.cumsum([0] + [len(a) for a in arrays])
    return [inverse[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], len(vocab)


def _ua_of_codes(k: int):
    """UA on integer codes, as :func:`emocirc.metrics.unweighted_recall` defines it.

    The mean recall over the classes present in the truth; a test checks
    it against the metrics module.  scikit-learn's ``recall_score`` costs
    some 30 ms a call on this project's machine, a bootstrap of hundreds of
    resamples per probe far more than the probe.
    """

    def UA(t: np.ndarray, p: np.ndarray) -> float:
        t, p = np.asarray(t, dtype=np.int64), np.asarray(p, dtype=np.int64)
        support = np.bincount(t, minlength=k)
        hits = np.bincount(t[t == p], minlength=k)
        present = support > 0
        return float(np.mean(hits[present] / support[present]))

    return UA


def _wa_of_codes(t: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.asarray(t) == np.asarray(p)))


#: Columns of :func:`probe_intervals`' table.
INTERVAL_COLUMNS: tuple[str, ...] = (
    "layer", "target", "metric", "score", "ci_low", "ci_high", "wa", "wa_low", "wa_high", "n", "speakers",
)  # fmt: skip


def probe_intervals(
    predictions: pd.DataFrame,
    *,
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> pd.DataFrame:
    """Every probe's score with its speaker-bootstrap interval, from its held-out predictions.

    The interval is the book's one scheme (:mod:`emocirc.inference`, whose
    notes document it): the held-out utterances' speakers are resampled,
    then utterances within each drawn speaker, and the score is recomputed
    on the pooled out-of-fold predictions; the probes are not refitted (the
    interval is over which speakers the probe was tested on).

    Parameters
    ----------
    predictions:
        Held-out predictions (:data:`PREDICTION_COLUMNS`), from
        :func:`layer_probe` or :func:`weighted_layer_probe` with
        ``predictions=True``.

    Returns
    -------
    pandas.DataFrame
        One row per layer and target, columns :data:`INTERVAL_COLUMNS`:
        ``score`` with ``ci_low``/``ci_high`` is UA for the emotion (the
        score of :func:`layer_probe`) and CCC for a rating; ``wa`` with its
        interval is the emotion's weighted accuracy (NaN for a rating);
        ``n`` utterances and ``speakers``.  ``attrs["scheme"]`` describes the
        bootstrap in one sentence.

    Examples
    --------
    >>> pred = pd.DataFrame({"layer": 1, "target": "label", "id": [f"u{i}" for i in range(40)],
    ...                      "speaker": np.repeat(list("abcdefgh"), 5), "truth": ["anger", "sadness"] * 20,
    ...                      "prediction": ["anger", "sadness"] * 15 + ["sadness", "anger"] * 5, "fold": 0})
    >>> t = probe_intervals(pred, n_resamples=100)
    >>> float(t["score"].iloc[0]), bool(t["ci_low"].iloc[0] < 0.75 < t["ci_high"].iloc[0])
    (0.75, True)
    """
    missing = set(PREDICTION_COLUMNS) - set(predictions.columns) - {"fold"}
    if missing:
        raise EmocircError(
            f"predictions: expected columns {', '.join(PREDICTION_COLUMNS)}; missing {sorted(missing)}"
        )
    kw = {"n_resamples": n_resamples, "confidence_level": confidence_level, "method": method, "seed": seed}
    rows = []
    for (layer, target), part in predictions.groupby(["layer", "target"], sort=False):
        speakers = part["speaker"].to_numpy(str)
        row = {"layer": int(layer), "target": target, "n": len(part), "speakers": len(np.unique(speakers))}
        if target == "label":
            (t, p), k = _label_codes(part["truth"], part["prediction"])
            ua_fn = _ua_of_codes(k)
            res = speaker_bootstrap(
                lambda idx, t=t, p=p, ua_fn=ua_fn: [ua_fn(t[idx], p[idx]), _wa_of_codes(t[idx], p[idx])],
                speakers,
                **kw,
            )
            row |= {"metric": TARGETS["label"], "score": float(res.estimate[0]), "ci_low": float(res.low[0]),
                    "ci_high": float(res.high[0]), "wa": float(res.estimate[1]), "wa_low": float(res.low[1]),
                    "wa_high": float(res.high[1])}  # fmt: skip
        else:
            res = ccc_interval(part["truth"].astype(float), part["prediction"].astype(float), speakers, **kw)
            row |= {"metric": TARGETS.get(str(target), "ccc"), "score": float(res.estimate[0]),
                    "ci_low": float(res.low[0]), "ci_high": float(res.high[0]),
                    "wa": np.nan, "wa_low": np.nan, "wa_high": np.nan}  # fmt: skip
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))
    out.attrs["scheme"] = (
        f"{confidence_level:.0%} {method} intervals of a speaker bootstrap ({n_resamples} resamples of the "
        "held-out speakers, then utterances within them; the probes' out-of-fold predictions rescored, "
        "not refitted)"
    ).replace("%", " %", 1)
    return out


def _one_probe(predictions: pd.DataFrame, layer: int | None, target: str, which: str) -> pd.DataFrame:
    rows = predictions[predictions["target"] == target]
    if layer is not None:
        rows = rows[rows["layer"] == int(layer)]
    layers = sorted(set(rows["layer"].astype(int)))
    if not layers:
        raise EmocircError(f"probe {which}: no held-out predictions for target {target!r} and layer {layer}")
    if len(layers) > 1:
        raise EmocircError(
            f"probe {which}: predictions of layers {layers}; expected one (pass layer_{which})"
        )
    if rows["id"].duplicated().any():
        raise EmocircError(
            f"probe {which}: an utterance id occurs twice; expected one prediction per utterance"
        )
    return rows.set_index("id")


def probe_difference(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    layer_a: int | None = None,
    layer_b: int | None = None,
    target: str = "label",
    metric: str | None = None,
    n_resamples: int = 500,
    confidence_level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> PairedDifference:
    """Probe ``a`` against probe ``b`` on the same utterances: score difference, interval, verdict.

    :func:`emocirc.inference.paired_difference` on the two probes'
    held-out predictions: both are scored on every speaker-bootstrap
    resample's same utterances, so what they share (hard speakers) cancels,
    and the verdict is that of the claim "``a`` scores higher than ``b``":
    ``holds``, ``does not hold`` or ``not resolved``.

    Parameters
    ----------
    a, b:
        Held-out predictions (:data:`PREDICTION_COLUMNS`); they may be the
        same table with ``layer_a`` and ``layer_b`` picking two layers.
    layer_a, layer_b:
        The layer of each (needed where a table holds several).
    target:
        ``"label"``, ``"arousal"`` or ``"valence"``.
    metric:
        Default: ``"UA"`` for the emotion, ``"CCC"`` for a rating.

    Examples
    --------
    >>> ids = [f"u{i}" for i in range(40)]
    >>> base = {"target": "label", "id": ids, "speaker": np.repeat(list("abcdefgh"), 5),
    ...         "truth": ["anger", "sadness"] * 20, "fold": 0}
    >>> good = pd.DataFrame({**base, "layer": 1, "prediction": ["anger", "sadness"] * 20})
    >>> bad = pd.DataFrame({**base, "layer": 2, "prediction": ["anger"] * 40})
    >>> d = probe_difference(good, bad, n_resamples=100)
    >>> d.difference, str(d.verdict)
    (0.5, 'holds')
    """
    pa = _one_probe(a, layer_a, target, "a")
    pb = _one_probe(b, layer_b, target, "b")
    if set(pa.index) != set(pb.index):
        raise EmocircError(
            f"probes a and b: expected predictions for the same utterances, got {len(pa)} and {len(pb)} "
            f"with {len(set(pa.index) ^ set(pb.index))} not in both (same features, same target)"
        )
    pb = pb.loc[pa.index]
    if not np.array_equal(pa["speaker"].astype(str), pb["speaker"].astype(str)):
        raise EmocircError("probes a and b: the same utterance has different speakers in the two tables")
    metric = metric or ("UA" if target == "label" else "CCC")
    truth, pred_a, pred_b = pa["truth"].to_numpy(), pa["prediction"].to_numpy(), pb["prediction"].to_numpy()
    fn: Any = metric
    if metric in ("UA", "WA"):  # the same metrics on integer codes, a hundred times faster
        (truth, pred_a, pred_b), k = _label_codes(truth, pred_a, pred_b)
        fn = _ua_of_codes(k) if metric == "UA" else (lambda t, p: _wa_of_codes(t, p))
        fn.__name__ = metric
    return paired_difference(
        truth,
        pred_a,
        pred_b,
        pa["speaker"].to_numpy(str),
        metric=fn,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        method=method,
        seed=seed,
    )


def select_layer(table: pd.DataFrame, which: str | int = "last") -> pd.DataFrame:
    """One row per target of a :func:`layer_probe` table: the last, the best-scoring or a given hidden state.

    ``"best"`` picks the layer after seeing the held-out scores, so its score
    is optimistic as an estimate for new speakers.

    Examples
    --------
    >>> t = pd.DataFrame({"layer": [0, 1, 0, 1], "target": ["label", "label", "arousal", "arousal"],
    ...                   "score": [0.3, 0.5, 0.7, 0.2]})
    >>> select_layer(t, "best")["layer"].tolist(), select_layer(t)["layer"].tolist()
    ([1, 0], [1, 1])
    """
    missing = {"layer", "target", "score"} - set(table.columns)
    if missing:
        raise EmocircError(f"probe table: expected columns layer, target, score; missing {sorted(missing)}")
    if which == "best":
        return table.loc[table.groupby("target", sort=False)["score"].idxmax()]
    layer = table["layer"].max() if which == "last" else which
    if isinstance(layer, str) or layer not in set(table["layer"]):
        raise EmocircError(
            f"which={which!r}: expected 'last', 'best' or one of the layers {sorted(set(table['layer']))}"
        )
    return table[table["layer"] == layer]


def compare_probes(probes: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Scores of several probes side by side: one row per probe, (target, score / interval) columns.

    Tables with ``ci_low``/``ci_high`` (:func:`probe_intervals`) give
    ``score``, ``ci low``, ``ci high`` columns; tables without them the
    ``score`` and its ``fold spread``.

    Each table holds one row per target (:func:`select_layer` of a
    :func:`layer_probe` table, the first value of :func:`weighted_layer_probe`,
    a :func:`layer_probe` table of one-layer features such as eGeMAPS); a
    target a probe lacks is NaN.

    Examples
    --------
    >>> a = pd.DataFrame({"layer": [2], "target": ["label"], "score": [0.5], "fold_std": [0.1]})
    >>> b = pd.DataFrame({"layer": [-1], "target": ["label"], "score": [0.6], "fold_std": [0.05]})
    >>> compare_probes({"last": a, "weighted": b})[("label", "score")].tolist()
    [0.5, 0.6]
    """
    out = {}
    for name, table in probes.items():
        if {"ci_low", "ci_high"} <= set(table.columns):
            stats = (("score", "score"), ("ci_low", "ci low"), ("ci_high", "ci high"))
        else:
            stats = (("score", "score"), ("fold_std", "fold spread"))
        missing = {"target", *(c for c, _ in stats)} - set(table.columns)
        if missing:
            raise EmocircError(
                f"probe {name!r}: expected columns target, score and fold_std (or ci_low, ci_high); "
                f"missing {sorted(missing)}"
            )
        if table["target"].duplicated().any():
            raise EmocircError(
                f"probe {name!r} has several rows for one target: expected one (pick a layer with select_layer)"
            )
        out[name] = {
            (row["target"], label): float(row[column])
            for _, row in table.iterrows()
            for column, label in stats
        }
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["target", ""])
    return frame
