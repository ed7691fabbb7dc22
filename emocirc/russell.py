"""Russell's circumplex of affect as data: anchors, his two tables, word angles, NRC VAD.

Russell (1980) asked 36 students to sort 28 affect words into eight
categories and to arrange the categories around a circle.  The seed report
reproduces two of his tables (its Figures 3 and 4); they are transcribed
here exactly as the seed gives them, including the two rows of Figure 4 that
do not sum to 36 (Alarmed sums to 30 and Angry to 37), which
:func:`row_sum_problems` flags rather than guesses at.

Angles are in degrees, counter-clockwise from the positive valence
(pleasure) axis, so the eight category anchors sit at 45-degree steps:
pleasure 0, excitement 45, arousal 90, distress 135, misery 180,
depression 225, sleepiness 270, contentment 315.  A word's angle is the
frequency-weighted circular mean of the category angles it was sorted into
(:func:`word_angles`); its resultant length (1 when every rater agreed)
says how sharply it points.

Two references give the expected place of each canonical emotion label
(:func:`expected_positions`):

``"russell"``
    the derived angle of the matching word among the 28 (anger -> Angry,
    happiness -> Happy, sadness -> Sad, fear -> Afraid, boredom -> Bored,
    excitement -> Excited, frustration -> Frustrated), on the unit circle.
    Disgust is not one of Russell's 28 words; rather than borrow a
    neighbour's angle it has no Russell position (``NaN``) and is left out of
    every statistic that uses this reference.
``"nrc-vad"``
    the NRC VAD lexicon's valence and arousal of the label's word (0-1),
    centred and stretched to -1..1; disgust is included.

Neutral belongs at the origin under both references: it is returned at
(0, 0) with no angle, and circular-order statistics leave it out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError

#: Russell's eight categories, in counter-clockwise order from pleasure.
CATEGORIES: tuple[str, ...] = (
    "pleasure",
    "excitement",
    "arousal",
    "distress",
    "misery",
    "depression",
    "sleepiness",
    "contentment",
)

#: Anchor angle of each category in degrees, counter-clockwise from pleasure.
CATEGORY_ANGLES: dict[str, float] = {name: 45.0 * i for i, name in enumerate(CATEGORIES)}

#: Number of raters in Russell's circular-ordering study.
N_RATERS = 36

#: Seed Figure 3 (Russell 1980): how often each term was put at each of the
#: eight positions around the circle; position 1 is wherever a rater put
#: "aroused".  Rows in the table's order, positions 1..8.
CIRCULAR_ORDERING: dict[str, tuple[int, ...]] = {
    "Aroused": (36, 0, 0, 0, 0, 0, 0, 0),
    "Excited": (0, 24, 3, 1, 0, 0, 0, 8),
    "Pleased": (0, 9, 20, 7, 0, 0, 0, 0),
    "Contented": (0, 2, 13, 16, 3, 0, 0, 2),
    "Sleepy": (0, 0, 0, 9, 23, 3, 0, 1),
    "Depressed": (0, 1, 0, 0, 5, 19, 10, 1),
    "Miserable": (0, 0, 0, 1, 1, 11, 18, 5),
    "Distressed": (0, 0, 0, 2, 4, 3, 8, 19),
}

#: Seed Figure 4 (Russell 1980): how many raters put each of the 28 words in
#: each category, columns in :data:`CATEGORIES` order.  "At ease" reads
#: "6 3 7" in the pleasure column of the seed's text; 7 makes its row sum to
#: 36.  Alarmed (30) and Angry (37) are kept as printed.
CATEGORY_FREQUENCIES: dict[str, tuple[int, ...]] = {
    "Happy": (21, 8, 2, 0, 0, 0, 0, 5),
    "Delighted": (15, 16, 3, 0, 0, 0, 0, 2),
    "Excited": (2, 29, 5, 0, 0, 0, 0, 0),
    "Astonished": (0, 17, 18, 1, 0, 0, 0, 0),
    "Aroused": (0, 14, 21, 1, 0, 0, 0, 0),
    "Tense": (0, 8, 18, 9, 0, 1, 0, 0),
    "Alarmed": (0, 0, 19, 11, 0, 0, 0, 0),
    "Angry": (0, 6, 21, 5, 3, 2, 0, 0),
    "Afraid": (0, 2, 11, 22, 0, 1, 0, 0),
    "Annoyed": (0, 1, 12, 14, 4, 4, 0, 1),
    "Distressed": (0, 0, 4, 25, 5, 2, 0, 0),
    "Frustrated": (0, 2, 5, 19, 4, 6, 0, 0),
    "Miserable": (0, 0, 0, 3, 23, 10, 0, 0),
    "Sad": (0, 0, 0, 10, 6, 19, 0, 1),
    "Gloomy": (0, 0, 0, 2, 11, 22, 1, 0),
    "Depressed": (0, 0, 0, 4, 7, 24, 0, 1),
    "Bored": (0, 0, 0, 3, 2, 14, 17, 0),
    "Droopy": (0, 0, 0, 1, 1, 8, 26, 0),
    "Tired": (0, 0, 0, 0, 1, 1, 34, 0),
    "Sleepy": (0, 0, 0, 0, 1, 0, 32, 3),
    "Calm": (4, 0, 0, 0, 0, 0, 3, 29),
    "Relaxed": (6, 0, 0, 0, 0, 0, 4, 26),
    "Satisfied": (3, 1, 0, 0, 0, 0, 0, 32),
    "At ease": (7, 0, 0, 0, 0, 0, 3, 26),
    "Content": (6, 1, 0, 0, 0, 0, 0, 29),
    "Serene": (8, 2, 0, 0, 0, 0, 0, 26),
    "Glad": (20, 4, 0, 0, 0, 0, 0, 12),
    "Pleased": (22, 2, 2, 0, 0, 0, 0, 10),
}

#: NRC VAD lexicon v1 (Mohammad 2018), valence and arousal on 0-1, of the
#: corpora's category words.
NRC_VAD: dict[str, tuple[float, float]] = {
    "anger": (0.167, 0.865),
    "happiness": (0.960, 0.732),
    "sadness": (0.052, 0.288),
    "fear": (0.073, 0.840),
    "disgust": (0.052, 0.775),
    "boredom": (0.167, 0.139),
    "neutral": (0.469, 0.184),
    "excitement": (0.908, 0.931),
    "calm": (0.875, 0.100),
}

#: The rating scale of IEMOCAP's valence and arousal annotations, which the
#: synthetic corpora share (1 = most unpleasant / calm, 5 = most pleasant /
#: activated).
RATING_SCALE: tuple[float, float] = (1.0, 5.0)


def to_rating(values: Any, scale: tuple[float, float] = RATING_SCALE) -> np.ndarray:
    """Map circumplex coordinates (-1..1) onto a rating scale, IEMOCAP's 1-5 by default.

    The inverse of :func:`from_rating`; the project's one rescale pair.

    Examples
    --------
    >>> to_rating([-1, 0, 1]).tolist()
    [1.0, 3.0, 5.0]
    >>> from_rating(to_rating([-0.666, 0.3])).round(6).tolist()
    [-0.666, 0.3]
    """
    low, high = scale
    return low + (np.asarray(values, dtype=float) + 1.0) / 2.0 * (high - low)


def from_rating(ratings: Any, scale: tuple[float, float] = RATING_SCALE) -> np.ndarray:
    """Map ratings on ``scale`` (IEMOCAP's 1-5 by default) onto circumplex coordinates (-1..1).

    Examples
    --------
    >>> from_rating([1, 3, 5]).tolist()
    [-1.0, 0.0, 1.0]
    """
    low, high = scale
    return 2.0 * (np.asarray(ratings, dtype=float) - low) / (high - low) - 1.0


def _lexicon(label: str) -> tuple[float, float]:
    v, a = NRC_VAD[label]
    return (round(2 * v - 1, 3), round(2 * a - 1, 3))


#: Where each canonical emotion sits on the circumplex (valence, arousal in
#: -1..1): the project's one table of emotion positions.  It is the
#: generating position of the synthetic corpora's ratings
#: (:data:`emocirc.synthesis_rules.RULES`' valence and arousal are these values on the
#: 1-5 scale), the ground truth of the synthetic diary and the target of
#: corpora that have labels but no ratings (EMODB).  :data:`POSITION_SOURCES`
#: says where each value comes from.
EMOTION_POSITIONS: dict[str, tuple[float, float]] = {
    **{label: _lexicon(label) for label in ("anger", "happiness", "sadness", "fear", "disgust", "boredom")},
    "neutral": (0.0, 0.0),
    "excitement": _lexicon("excitement"),
    "calm": _lexicon("calm"),
    "frustration": (-0.6, 0.3),
    "surprise": (0.3, 0.6),
}

#: Where each value of :data:`EMOTION_POSITIONS` comes from.
POSITION_SOURCES: dict[str, str] = {
    **{
        label: f"NRC VAD lexicon v1, the word '{label}' (0-1, centred to -1..1)"
        for label in EMOTION_POSITIONS
        if label in NRC_VAD and label != "neutral"
    },
    "neutral": "the origin: neither pleasant nor unpleasant, neither activated nor deactivated",
    "frustration": "estimate: a mild anger (not in the NRC VAD words used here)",
    "surprise": "estimate: activated, mildly pleasant (not in the NRC VAD words used here)",
}


def position_table() -> pd.DataFrame:
    """:data:`EMOTION_POSITIONS` as a table, with the 1-5 ratings and each value's source.

    Examples
    --------
    >>> t = position_table()
    >>> t.loc["neutral", ["valence_rating", "arousal_rating"]].tolist()
    [3.0, 3.0]
    >>> t.loc["sadness", "source"].startswith("NRC VAD")
    True
    """
    table = pd.DataFrame.from_dict(EMOTION_POSITIONS, orient="index", columns=["valence", "arousal"])
    table["valence_rating"] = to_rating(table["valence"])
    table["arousal_rating"] = to_rating(table["arousal"])
    table["source"] = pd.Series(POSITION_SOURCES)
    table.index.name = "emotion"
    return table


#: The word among Russell's 28 that stands for each canonical label.
LABEL_TO_WORD: dict[str, str] = {
    "anger": "Angry",
    "happiness": "Happy",
    "sadness": "Sad",
    "fear": "Afraid",
    "boredom": "Bored",
    "excitement": "Excited",
    "frustration": "Frustrated",
}

#: The expected-position references :func:`expected_positions` knows.
REFERENCES: tuple[str, ...] = ("russell", "nrc-vad")


def circular_ordering_table() -> pd.DataFrame:
    """Seed Figure 3 as a table: terms x positions 1..8 around the circle.

    Examples
    --------
    >>> t = circular_ordering_table()
    >>> t.shape
    (8, 8)
    >>> int(t.loc["Pleased", 3])
    20
    """
    return pd.DataFrame.from_dict(CIRCULAR_ORDERING, orient="index", columns=list(range(1, 9)))


def category_frequency_table() -> pd.DataFrame:
    """Seed Figure 4 as a table: the 28 words x the 8 categories.

    Examples
    --------
    >>> t = category_frequency_table()
    >>> t.shape
    (28, 8)
    >>> int(t.loc["Tired", "sleepiness"])
    34
    """
    return pd.DataFrame.from_dict(CATEGORY_FREQUENCIES, orient="index", columns=list(CATEGORIES))


def row_sum_problems(table: pd.DataFrame | None = None, expected: int = N_RATERS) -> dict[str, int]:
    """Rows whose frequencies do not sum to the number of raters, with their sums.

    Parameters
    ----------
    table:
        A frequency table (rows are words); Figure 4 by default.
    expected:
        The sum every row should have (36 raters).

    Examples
    --------
    >>> row_sum_problems()
    {'Alarmed': 30, 'Angry': 37}
    >>> row_sum_problems(circular_ordering_table())
    {}
    """
    table = category_frequency_table() if table is None else table
    sums = table.sum(axis=1)
    return {str(word): int(total) for word, total in sums.items() if int(total) != expected}


def circular_mean(angles_deg: Iterable[float], weights: Iterable[float] | None = None) -> tuple[float, float]:
    """Weighted circular mean of angles, and its resultant length.

    Returns ``(angle_deg, resultant_length)`` with the angle in ``[0, 360)``
    and the resultant length in ``[0, 1]`` (1 when all weight is on one
    angle; the angle is ``NaN`` when the resultant vanishes).

    Examples
    --------
    >>> angle, r = circular_mean([350, 10])
    >>> round(angle % 360, 6) in (0.0, 360.0), round(r, 3)
    (True, 0.985)
    >>> circular_mean([0, 90], [1, 1])[0]
    45.0
    """
    theta = np.deg2rad(np.asarray(list(angles_deg), dtype=float))
    w = np.ones_like(theta) if weights is None else np.asarray(list(weights), dtype=float)
    if theta.shape != w.shape or w.sum() <= 0:
        raise EmocircError(f"circular_mean: expected as many positive weights as angles, got {w.tolist()}")
    c = float(np.sum(w * np.cos(theta)) / w.sum())
    s = float(np.sum(w * np.sin(theta)) / w.sum())
    length = float(np.hypot(c, s))
    if length < 1e-12:
        return float("nan"), 0.0
    return float(np.rad2deg(np.arctan2(s, c)) % 360.0), length


def word_angles() -> pd.DataFrame:
    """Each of the 28 words' angle on the circumplex, derived from Figure 4.

    Columns: ``angle_deg`` (frequency-weighted circular mean of the category
    anchors, counter-clockwise from pleasure), ``resultant_length``,
    ``valence`` and ``arousal`` (the unit-circle position, ``cos`` and
    ``sin`` of the angle), ``n`` (the row sum) and ``row_sum_ok``.

    Examples
    --------
    >>> w = word_angles()
    >>> round(float(w.loc["Excited", "angle_deg"]), 1)
    48.6
    >>> bool(w.loc["Angry", "row_sum_ok"])
    False
    """
    table = category_frequency_table()
    anchors = [CATEGORY_ANGLES[c] for c in CATEGORIES]
    rows = []
    for word, freq in table.iterrows():
        angle, length = circular_mean(anchors, freq.to_numpy(dtype=float))
        rows.append(
            {
                "word": word,
                "angle_deg": angle,
                "resultant_length": length,
                "valence": float(np.cos(np.deg2rad(angle))),
                "arousal": float(np.sin(np.deg2rad(angle))),
                "n": int(freq.sum()),
                "row_sum_ok": int(freq.sum()) == N_RATERS,
            }
        )
    return pd.DataFrame(rows).set_index("word")


def nrc_vad_positions() -> pd.DataFrame:
    """The NRC VAD words as circumplex positions: 0-1 values centred to -1..1.

    Columns ``valence_raw``, ``arousal_raw`` (the lexicon's 0-1 values),
    ``valence``, ``arousal`` (``2 * raw - 1``) and ``angle_deg``.

    Examples
    --------
    >>> p = nrc_vad_positions()
    >>> round(float(p.loc["sadness", "valence"]), 3)
    -0.896
    >>> 90 < float(p.loc["anger", "angle_deg"]) < 180
    True
    """
    rows = []
    for label, (v, a) in NRC_VAD.items():
        x, y = 2 * v - 1, 2 * a - 1
        rows.append(
            {
                "label": label,
                "valence_raw": v,
                "arousal_raw": a,
                "valence": x,
                "arousal": y,
                "angle_deg": float(np.rad2deg(np.arctan2(y, x)) % 360.0),
            }
        )
    return pd.DataFrame(rows).set_index("label")


def expected_positions(labels: Iterable[str], reference: str = "russell") -> pd.DataFrame:
    """Expected valence-arousal position and angle of canonical emotion labels.

    Parameters
    ----------
    labels:
        Canonical labels (``anger``, ``happiness``, ...).
    reference:
        ``"russell"`` (the matching word's derived angle on the unit circle)
        or ``"nrc-vad"`` (NRC VAD values centred to -1..1).

    Returns
    -------
    DataFrame indexed by label with ``valence``, ``arousal`` and
    ``angle_deg``.  Neutral is at the origin with ``angle_deg`` NaN; a label
    the reference does not cover (disgust under ``"russell"``, frustration
    under ``"nrc-vad"``) has NaN everywhere.

    Examples
    --------
    >>> e = expected_positions(["anger", "sadness", "neutral", "disgust"])
    >>> e["angle_deg"].round(1).tolist()
    [97.7, 195.3, nan, nan]
    >>> e.loc["neutral", ["valence", "arousal"]].tolist()
    [0.0, 0.0]
    """
    if reference not in REFERENCES:
        raise EmocircError(f"unknown reference {reference!r}: expected one of {', '.join(REFERENCES)}")
    words = word_angles() if reference == "russell" else None
    nrc = nrc_vad_positions() if reference == "nrc-vad" else None
    rows = []
    for label in labels:
        v = a = angle = float("nan")
        if label == "neutral":
            v, a = 0.0, 0.0
        elif reference == "russell" and label in LABEL_TO_WORD:
            row = words.loc[LABEL_TO_WORD[label]]
            v, a, angle = float(row["valence"]), float(row["arousal"]), float(row["angle_deg"])
        elif reference == "nrc-vad" and label in nrc.index:
            row = nrc.loc[label]
            v, a, angle = float(row["valence"]), float(row["arousal"]), float(row["angle_deg"])
        rows.append({"label": label, "valence": v, "arousal": a, "angle_deg": angle})
    return pd.DataFrame(rows, columns=["label", "valence", "arousal", "angle_deg"]).set_index("label")


def expected_angles(labels: Iterable[str], reference: str = "russell") -> dict[str, float]:
    """Expected angle of each label that has one (neutral and uncovered labels left out).

    Examples
    --------
    >>> sorted(expected_angles(["anger", "neutral", "disgust", "boredom"]))
    ['anger', 'boredom']
    """
    e = expected_positions(labels, reference)
    return {str(k): float(v) for k, v in e["angle_deg"].items() if np.isfinite(v)}


def reference_table(labels: Iterable[str], scale: tuple[float, float] = RATING_SCALE) -> pd.DataFrame:
    """Where each reference puts each label, on a rating scale (IEMOCAP's 1-5 by default).

    Columns ``russell_valence``, ``russell_arousal``, ``nrc-vad_valence``,
    ``nrc-vad_arousal``: the -1..1 positions of :func:`expected_positions`
    mapped linearly onto ``scale`` (:func:`to_rating`).  The synthetic
    corpora's ratings are drawn around :data:`EMOTION_POSITIONS` (NRC VAD's
    values for the lexicon's words), so a map fitted to Russell's angles and
    scored against those ratings meets a second reference.

    Examples
    --------
    >>> t = reference_table(["sadness"])
    >>> round(float(t.loc["sadness", "nrc-vad_valence"]), 3)
    1.208
    """
    out = {}
    for ref in REFERENCES:
        e = expected_positions(list(labels), ref)
        for axis in ("valence", "arousal"):
            out[f"{ref}_{axis}"] = pd.Series(to_rating(e[axis], scale), index=e.index)
    return pd.DataFrame(out)
