"""The one prosody rule table of the embedded synthetic corpora.

Each emotion is rendered by changing a neutral voice's pitch level, pitch
range, speech rate and intensity, and its voice quality (jitter, breathiness,
harshness), as acted emotions differ (Murray and Arnott 1993; Emofilt,
Burkhardt 2005; see REFERENCES.md section 4).  Values are relative to
neutral: ``f0_mean``, ``f0_range`` and ``duration`` in percent (``duration``
above 100 is slower), ``intensity`` in dB, ``jitter`` in percent of the pitch
period, ``breathiness`` and ``harshness`` on 0-1.  The table is tempered
from Emofilt's extremes (acted speech varies; eSpeak's pitch parameter
saturates), and anger and happiness share their prosody on purpose: they
differ only in voice quality, which is what the seed report and Emofilt's
author observed.

``valence``, ``arousal`` and ``dominance`` (1-5, IEMOCAP's scale) place each
emotion on the circumplex: valence and arousal are the project's one table of
emotion positions, :data:`emocirc.russell.EMOTION_POSITIONS` (the NRC VAD
lexicon's values, Mohammad 2018, for the lexicon's words; neutral at the
origin; frustration and surprise estimated), put on the 1-5 scale by
:func:`emocirc.russell.to_rating`; dominance is a rough estimate (marked in
``source``).

A rendered utterance combines three layers, so that classes overlap as in
acted speech: the emotion's rule, scaled by how strongly the speaker and the
utterance express it (:func:`render_prosody`), the speaker's habits
(:class:`SpeakerProfile`), and per-utterance noise.  An utterance's own
arousal, when given, shifts pitch, rate and loudness further, so the
IEMOCAP-layout arousal ratings are audible.

Examples
--------
>>> float(RULES.loc["sadness", "duration"])
140.0
>>> sorted(EMODB_EMOTIONS)
['anger', 'boredom', 'disgust', 'fear', 'happiness', 'neutral', 'sadness']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError
from emocirc.russell import EMOTION_POSITIONS, to_rating

_COLUMNS = (
    "f0_mean",
    "f0_range",
    "duration",
    "intensity",
    "jitter",
    "breathiness",
    "harshness",
    "dominance",
    "source",
)

# fmt: off
_ROWS: dict[str, tuple] = {
    #              f0 mean  range  dur  dB    jitter  breath  harsh  D     source
    "neutral":     (    100,   100, 100,  0.0,   0.20,   0.00,  0.00, 3.00, "baseline; V/A at the origin"),
    "anger":       (    140,   185,  78,  6.0,   0.60,   0.05,  0.50, 4.00, "M&A: very much higher, much wider, faster, louder, chest tone; Emofilt 150/200/70"),
    "happiness":   (    140,   185,  80,  6.0,   0.60,   0.20,  0.00, 3.60, "M&A: much higher, much wider, louder, breathy; Emofilt 150/200/70"),
    "sadness":     (     94,    72, 140, -7.0,   2.00,   0.15,  0.00, 2.00, "M&A: slightly lower, narrower, slower, softer; Emofilt range 80, dur 140, jitter"),
    "fear":        (    170,   150,  72,  0.0,   2.50,   0.10,  0.00, 1.80, "M&A: very much higher, much wider, much faster, irregular voicing; Emofilt 200/160/70"),
    "disgust":     (     78,   115, 150, -3.0,   0.50,   0.00,  0.40, 3.20, "M&A: very much lower, slightly wider, very much slower, grumbled chest tone"),
    "boredom":     (     86,    40, 115, -3.0,   0.30,   0.05,  0.00, 2.20, "Emofilt: f0 80, range 50, dur 120, soft"),
    "excitement":  (    150,   200,  74,  7.0,   0.60,   0.25,  0.10, 3.80, "like joy, higher arousal (NRC 'excited')"),
    "frustration": (    115,   130,  92,  3.0,   0.60,   0.05,  0.40, 2.80, "estimate: a mild anger"),
    "surprise":    (    155,   215,  90,  3.0,   0.40,   0.15,  0.00, 2.80, "estimate: high, very wide pitch"),
}
# fmt: on

#: Per-emotion prosody rules (one row per canonical emotion), the table shown in the book.
RULES: pd.DataFrame = pd.DataFrame.from_dict(_ROWS, orient="index", columns=list(_COLUMNS)).astype(
    {c: float for c in _COLUMNS if c != "source"}
)
for _axis, _i in (("valence", 0), ("arousal", 1)):
    RULES.insert(
        list(RULES.columns).index("dominance"),
        _axis,
        to_rating([EMOTION_POSITIONS[e][_i] for e in RULES.index]),
    )
RULES.index.name = "emotion"

#: The seven EMODB emotions, in the table's order.
EMODB_EMOTIONS: tuple[str, ...] = ("neutral", "anger", "happiness", "sadness", "fear", "disgust", "boredom")

#: Standard deviations of the per-utterance noise, in the table's units
#: (f0_mean, f0_range and duration in percent of the rule's value).
UTTERANCE_NOISE: dict[str, float] = {
    "f0_mean": 8.0,
    "f0_range": 20.0,
    "duration": 10.0,
    "intensity": 2.5,
    "jitter": 0.4,
    "expressiveness": 0.3,
}

#: Standard deviations of a speaker's fixed per-emotion offsets (same units).
HABIT_SPREAD: dict[str, float] = {"f0_mean": 6.0, "f0_range": 12.0, "duration": 6.0, "intensity": 1.5}

#: How much one arousal point (on 1-5) above the emotion's own arousal moves
#: the voice: f0 in percent, duration in percent (negative: faster), dB.
AROUSAL_SLOPE: dict[str, float] = {"f0_mean": 9.0, "f0_range": 14.0, "duration": -8.0, "intensity": 2.5}


#: eSpeak pitch-parameter steps per doubling of F0 (measured on the shipped voices).
PITCH_STEPS_PER_OCTAVE = 70.0


@dataclass(frozen=True)
class SpeakerProfile:
    """A synthetic speaker: an eSpeak voice and the speaker's habits.

    Parameters
    ----------
    speaker : str
        Speaker code, e.g. ``"03"`` (EMODB) or ``"1F"`` (IEMOCAP).
    gender : str
        ``"F"`` or ``"M"``.
    voice : str
        eSpeak voice with variant, e.g. ``"de+m3"``.
    pitch : float
        Habitual pitch on eSpeak's 0-100 scale (50 is the variant's normal).
    range : float
        Habitual pitch range on eSpeak's 0-100 scale.
    rate : float
        Habitual speech rate in words per minute.
    gain_db : float
        Habitual loudness (recording level) relative to the corpus.
    expressiveness : float
        How strongly the speaker acts emotions (1 = the rule table's values).
    habit_seed : int
        Seeds the speaker's own way of acting each emotion: fixed offsets of
        pitch, rate and loudness per emotion (:data:`HABIT_SPREAD`).

    Examples
    --------
    >>> SpeakerProfile("03", "M", "de+m1").rate
    160.0
    """

    speaker: str
    gender: str
    voice: str
    pitch: float = 50.0
    range: float = 50.0
    rate: float = 160.0
    gain_db: float = 0.0
    expressiveness: float = 1.0
    habit_seed: int = 0

    def to_dict(self) -> dict[str, object]:
        """The profile as a plain dict (for manifests)."""
        return asdict(self)


def random_speaker(speaker: str, gender: str, voice: str, rng: np.random.Generator) -> SpeakerProfile:
    """Draw a speaker's habits around the corpus-wide defaults.

    Examples
    --------
    >>> p = random_speaker("1F", "F", "en-us+f2", np.random.default_rng(0))
    >>> 40 <= p.pitch <= 60 and 0.6 <= p.expressiveness <= 1.4
    True
    """
    if gender not in ("F", "M"):
        raise EmocircError(f"speaker {speaker!r} gender {gender!r}: expected 'F' or 'M'")
    return SpeakerProfile(
        speaker=speaker,
        gender=gender,
        voice=voice,
        pitch=float(np.clip(rng.normal(50.0, 4.0), 40, 60)),
        range=float(np.clip(rng.normal(50.0, 6.0), 35, 65)),
        rate=float(np.clip(rng.normal(160.0, 12.0), 130, 190)),
        gain_db=float(np.clip(rng.normal(0.0, 2.0), -4, 4)),
        expressiveness=float(np.clip(rng.normal(1.0, 0.2), 0.6, 1.4)),
        habit_seed=int(rng.integers(0, 2**31)),
    )


@dataclass(frozen=True)
class RenderedProsody:
    """The prosody of one utterance, ready for eSpeak and post-processing.

    ``pitch``, ``range`` and ``rate`` are eSpeak parameters; ``gain_db`` the
    output level change; ``jitter`` (percent), ``breathiness`` and
    ``harshness`` the voice-quality post-processing.
    """

    emotion: str
    pitch: int
    range: int
    rate: int
    gain_db: float
    jitter: float
    breathiness: float
    harshness: float
    f0_factor: float
    range_factor: float
    duration_factor: float

    def to_dict(self) -> dict[str, object]:
        """The rendered values as a plain dict (for manifests)."""
        return asdict(self)


def rule(emotion: str) -> pd.Series:
    """The rule-table row of ``emotion``.

    Examples
    --------
    >>> float(rule("anger")["f0_mean"])
    140.0
    """
    if emotion not in RULES.index:
        raise EmocircError(f"emotion {emotion!r}: expected one of {', '.join(RULES.index)}")
    return RULES.loc[emotion]


def render_prosody(
    emotion: str,
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    arousal: float | None = None,
) -> RenderedProsody:
    """Combine an emotion's rule, a speaker's habits and per-utterance variation.

    Parameters
    ----------
    emotion : str
        A canonical emotion with a row in :data:`RULES`.
    speaker : SpeakerProfile
        Whose voice and habits.
    rng : numpy.random.Generator
        Source of the per-utterance variation.
    arousal : float, optional
        The utterance's own arousal on 1-5; its distance from the emotion's
        arousal shifts pitch, range, rate and loudness by :data:`AROUSAL_SLOPE`.

    Examples
    --------
    >>> spk = SpeakerProfile("03", "M", "de+m1")
    >>> calm = render_prosody("sadness", spk, np.random.default_rng(0))
    >>> hot = render_prosody("anger", spk, np.random.default_rng(0))
    >>> hot.pitch > calm.pitch and hot.rate > calm.rate and hot.gain_db > calm.gain_db
    True
    """
    row = rule(emotion)
    noise = UTTERANCE_NOISE
    # How strongly this utterance shows its emotion: the speaker's acting
    # habit times a per-utterance factor.  Applied in the log domain so that
    # "half as expressive" moves halfway from neutral towards the rule.
    strength = max(0.2, speaker.expressiveness * (1.0 + rng.normal(0.0, noise["expressiveness"])))

    # The speaker's own, fixed way of acting this emotion (same every utterance).
    habit = np.random.default_rng([speaker.habit_seed, sum(map(ord, emotion))]).normal(0.0, 1.0, 4)

    def toward(percent: float, sd: float, h: float) -> float:
        factor = (percent / 100.0) ** strength
        return float(factor * np.exp(rng.normal(0.0, sd / 100.0) + h / 100.0))

    f0 = toward(row["f0_mean"], noise["f0_mean"], HABIT_SPREAD["f0_mean"] * habit[0])
    rng_factor = toward(row["f0_range"], noise["f0_range"], HABIT_SPREAD["f0_range"] * habit[1])
    dur = toward(row["duration"], noise["duration"], HABIT_SPREAD["duration"] * habit[2])
    gain = (
        row["intensity"] * strength
        + rng.normal(0.0, noise["intensity"])
        + HABIT_SPREAD["intensity"] * habit[3]
    )
    if arousal is not None:
        if not 1.0 <= arousal <= 5.0:
            raise EmocircError(f"arousal {arousal!r}: expected a value on IEMOCAP's 1-5 scale")
        delta = arousal - row["arousal"]
        f0 *= 1.0 + AROUSAL_SLOPE["f0_mean"] * delta / 100.0
        rng_factor *= 1.0 + AROUSAL_SLOPE["f0_range"] * delta / 100.0
        dur *= 1.0 + AROUSAL_SLOPE["duration"] * delta / 100.0
        gain += AROUSAL_SLOPE["intensity"] * delta
    # eSpeak's pitch parameter is roughly logarithmic: 50 -> 100 raises F0
    # by about 60 % on the shipped voices, i.e. about 70 steps per octave.
    pitch = speaker.pitch + PITCH_STEPS_PER_OCTAVE * np.log2(max(f0, 0.25))
    jitter = max(0.0, row["jitter"] + rng.normal(0.0, noise["jitter"]))
    return RenderedProsody(
        emotion=emotion,
        pitch=int(np.clip(round(pitch), 0, 100)),
        range=int(np.clip(round(speaker.range * rng_factor), 0, 100)),
        rate=int(np.clip(round(speaker.rate / max(dur, 0.2)), 80, 450)),
        gain_db=float(speaker.gain_db + gain),
        jitter=float(jitter),
        breathiness=float(row["breathiness"]),
        harshness=float(row["harshness"]),
        f0_factor=f0,
        range_factor=rng_factor,
        duration_factor=dur,
    )


def rules_table(emotions: tuple[str, ...] | list[str] | None = None) -> pd.DataFrame:
    """The rule table for display, with readable column names.

    Examples
    --------
    >>> rules_table(EMODB_EMOTIONS).shape[0]
    7
    """
    table = RULES if emotions is None else RULES.loc[list(emotions)]
    return table.rename(
        columns={
            "f0_mean": "pitch level (%)",
            "f0_range": "pitch range (%)",
            "duration": "duration (%)",
            "intensity": "intensity (dB)",
            "jitter": "jitter (%)",
        }
    )
