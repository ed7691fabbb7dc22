"""The embedded read-speech corpus: texts, speakers and phoneme alignments.

wav2vec2-base was pre-trained on LibriSpeech, people reading books aloud.
This corpus is its embedded counterpart for pre-training in miniature: many
synthetic speakers reading, in a neutral voice, sentences that a small
grammar of the project's own writes (:func:`sentence`; nothing is copied
from a book).  Its vocabulary (:data:`VOCABULARY`) was chosen to hold every
phoneme of English, including the rare ones (the /ʒ/ of "measure", the /ɔɪ/
of "voice", the /θ/ of "thick").

A speaker is an eSpeak variant that :mod:`emocirc.voices` gives this corpus
and no other, an English accent (American, British, Scottish, Caribbean,
...) and habits of pitch, range and rate drawn by
:func:`emocirc.synthesis_rules.random_speaker`.  :func:`emocirc.synth.synthesize_readspeech`
writes the audio (``<speaker>/<speaker>-<nnnn>.wav``, 16 kHz mono); beside
each file lies ``<speaker>-<nnnn>.phones.tsv``, the phoneme of each 20 ms
frame from eSpeak's own phoneme events (:func:`frame_alignment`).
Pre-training reads the WAV files only; the alignments are for the probes of
:mod:`emocirc.probing`.

Size: ``scale`` is about hours of speech (:func:`readspeech_plan`; the
speakers grow with it, 12 utterances each).  eSpeak is fast: scale 1 (65
speakers, 780 utterances, 1.03 h) took 74 s with 2 worker processes on
this project's 2-core machine while other work kept it busy (load average
about 10), and the time grows in proportion to the size;
``emocirc.synth.ensure_corpus("readspeech", scale=..., seed=...)`` makes
it once and caches it.

The corpus is synthetic: what a model learns from it says how a method
behaves on eSpeak's speech, not on people's.

Examples
--------
>>> import numpy as np
>>> text = sentence(np.random.default_rng(0))
>>> text[0].isupper() and text[-1] in ".?"
True
>>> readspeech_plan(1.0)
(65, 12)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from emocirc.audio import SAMPLE_RATE
from emocirc.errors import EmocircError
from emocirc.synthesis_rules import SpeakerProfile, random_speaker
from emocirc.voices import voices_for

#: Bump whenever the grammar, the vocabulary or the speakers change (part of the cache key).
TEXT_VERSION = "2"  # 2: voices reallocated, accents of returning variants

#: English accents of eSpeak NG the speakers read with (the language part of a voice).
ACCENTS: tuple[str, ...] = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-us-nyc",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)

#: Suffix of the frame-level alignment beside each WAV file.
PHONES_SUFFIX = ".phones.tsv"

#: Mean duration of an utterance in seconds (measured: 624 utterances, seed 0): sizes the plan.
MEAN_SECONDS = 4.6

#: Utterances each speaker reads at scale 1.
UTTERANCES_PER_SPEAKER = 12

#: Manifest of the corpus, one row per utterance (speaker, text, duration, prosody).
MANIFEST = "emocirc-synthetic-utterances.tsv"

# fmt: off
#: The grammar's words by part of speech.  Verbs are (base, past) pairs.
VOCABULARY: dict[str, tuple] = {
    "determiner": ("the", "a", "this", "that", "every", "one", "my", "her", "our", "their", "his", "your"),
    "adjective": (
        "old", "young", "little", "quiet", "loud", "bright", "yellow", "purple", "brown", "green", "heavy",
        "thick", "smooth", "gentle", "huge", "cheerful", "careful", "curious", "ancient", "wooden", "frozen",
        "strange", "lazy", "busy", "famous", "empty", "narrow", "shallow", "tired", "joyful", "rough", "golden",
        "silver", "hungry", "clever", "pleasant", "distant", "modern", "tiny", "noisy", "thirsty", "foolish",
        "shy", "eager", "beige", "usual", "royal", "sour", "warm", "cold", "dark", "round", "sharp", "soft",
    ),
    "noun": (
        "house", "cloud", "mountain", "flower", "town", "owl", "book", "wood", "sugar", "foot", "cook",
        "moon", "school", "juice", "spoon", "tooth", "boat", "road", "window", "father", "garden", "car",
        "heart", "door", "bird", "girl", "word", "nurse", "cat", "apple", "hand", "man", "bread", "desk",
        "friend", "fish", "river", "tree", "sea", "cheese", "sheep", "lake", "paper", "station", "light",
        "tiger", "island", "bicycle", "kitchen", "teacher", "church", "chair", "beach", "judge", "jacket",
        "village", "bridge", "giant", "boy", "coin", "voice", "toy", "oyster", "king", "ring", "singer",
        "evening", "morning", "song", "mother", "brother", "feather", "thunder", "author", "month", "bath",
        "treasure", "garage", "vision", "television", "decision", "measure", "pleasure", "water", "yard",
        "wolf", "hill", "horse", "queen", "zebra", "machine", "picture", "doctor", "engine", "oven",
        "umbrella", "pillow", "basket", "letter", "pocket", "ladder", "violin", "lamp", "north", "shore",
    ),
    "name": (
        "Thomas", "Judith", "George", "Sophie", "Charles", "Oliver", "Martha", "Joseph", "Zoe", "Vivian",
        "Gerald", "Ruth", "Eugene", "Nathan", "Rachel", "Yvonne", "Hugh", "Angela", "Peter", "Ivy",
    ),
    "transitive": (
        ("watch", "watched"), ("carry", "carried"), ("push", "pushed"), ("find", "found"),
        ("bring", "brought"), ("choose", "chose"), ("build", "built"), ("paint", "painted"),
        ("measure", "measured"), ("wash", "washed"), ("touch", "touched"), ("borrow", "borrowed"),
        ("follow", "followed"), ("throw", "threw"), ("catch", "caught"), ("draw", "drew"), ("fix", "fixed"),
        ("open", "opened"), ("hide", "hid"), ("visit", "visited"), ("judge", "judged"), ("thank", "thanked"),
        ("enjoy", "enjoyed"), ("join", "joined"), ("move", "moved"), ("share", "shared"), ("buy", "bought"),
        ("leave", "left"), ("show", "showed"), ("keep", "kept"), ("forget", "forgot"), ("cheer", "cheered"),
    ),
    "intransitive": (
        ("sleep", "slept"), ("wait", "waited"), ("laugh", "laughed"), ("sing", "sang"), ("arrive", "arrived"),
        ("shiver", "shivered"), ("vanish", "vanished"), ("wander", "wandered"), ("rest", "rested"),
        ("jump", "jumped"), ("smile", "smiled"), ("argue", "argued"), ("whisper", "whispered"),
        ("travel", "travelled"), ("grow", "grew"), ("swim", "swam"), ("fall", "fell"), ("shout", "shouted"),
    ),
    "adverb": (
        "slowly", "quietly", "yesterday", "early", "together", "again", "suddenly", "carefully", "gently",
        "happily", "soon", "loudly", "twice", "outside", "at noon", "all day", "at dawn", "last year",
    ),
    "preposition": (
        "near", "behind", "under", "beside", "across", "through", "inside", "above", "towards", "beyond",
        "along", "around", "without", "with",
    ),
    "opener": (
        "Yesterday", "In the evening", "That winter", "Every Thursday", "Just then", "Later", "At first",
        "Three months ago", "On the way home", "Usually",
    ),
}
# fmt: on


def _pick(rng: np.random.Generator, words: tuple) -> object:
    return words[int(rng.integers(len(words)))]


def _article(det: str, following: str) -> str:
    # "an" before a vowel sound; the vocabulary's vowel letters that sound /j/ ("usual") keep "a".
    if det == "a" and following[0] in "aeio" or (det == "a" and following.startswith("um")):
        return "an"
    return det


def _noun_phrase(rng: np.random.Generator, depth: int = 0) -> str:
    v = VOCABULARY
    if rng.random() < 0.2:
        return str(_pick(rng, v["name"]))
    words = [str(_pick(rng, v["noun"]))]
    if rng.random() < 0.5:
        words.insert(0, str(_pick(rng, v["adjective"])))
    det = _article(str(_pick(rng, v["determiner"])), words[0])
    phrase = " ".join([det, *words])
    if depth == 0 and rng.random() < 0.15:
        phrase += f" {_pick(rng, v['preposition'])} {_noun_phrase(rng, depth + 1)}"
    return phrase


def _prep_phrase(rng: np.random.Generator) -> str:
    return f"{_pick(rng, VOCABULARY['preposition'])} {_noun_phrase(rng, 1)}"


def _clause(rng: np.random.Generator) -> str:
    v = VOCABULARY
    subject = _noun_phrase(rng)
    kind = rng.random()
    if kind < 0.45:
        verb = _pick(rng, v["transitive"])[1]
        out = f"{subject} {verb} {_noun_phrase(rng)}"
    elif kind < 0.75:
        verb = _pick(rng, v["intransitive"])[1]
        out = f"{subject} {verb} {_prep_phrase(rng)}"
    elif kind < 0.9:
        verb = _pick(rng, v["transitive"])[1]
        out = f"{subject} {verb} {_noun_phrase(rng, 1)} {_prep_phrase(rng)}"
    else:
        adjs = [str(_pick(rng, v["adjective"])) for _ in range(2)]
        out = f"{subject} was {adjs[0]} and {adjs[1]}"
    if rng.random() < 0.3:
        out += f" {_pick(rng, v['adverb'])}"
    return out


def sentence(rng: np.random.Generator) -> str:
    """One sentence of the read-speech grammar, drawn with ``rng``.

    Statements (a clause; two joined by "and", "but" or "because"; an
    opener such as "Later," before a clause) and questions ("Did the boy
    find a coin?", "Why did Ruth shiver beside the lake?") over
    :data:`VOCABULARY`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> texts = [sentence(rng) for _ in range(200)]
    >>> sum(t.endswith("?") for t in texts) > 10, all(t[0].isupper() for t in texts)
    (True, True)
    >>> sentence(np.random.default_rng(5)) == sentence(np.random.default_rng(5))
    True
    """
    v = VOCABULARY
    kind = rng.random()
    if kind < 0.12:
        verb = _pick(rng, v["transitive"])[0]
        text, end = f"did {_noun_phrase(rng)} {verb} {_noun_phrase(rng, 1)}", "?"
    elif kind < 0.2:
        verb = _pick(rng, v["intransitive"])[0]
        text, end = f"why did {_noun_phrase(rng, 1)} {verb} {_prep_phrase(rng)}", "?"
    elif kind < 0.45:
        joint = str(_pick(rng, ("and", "but", "because", "so")))
        text, end = f"{_clause(rng)}, {joint} {_clause(rng)}", "."
    elif kind < 0.6:
        text, end = f"{_pick(rng, v['opener'])}, {_clause(rng)}", "."
    else:
        text, end = _clause(rng), "."
    return text[0].upper() + text[1:] + end


def utterance_text(rng: np.random.Generator) -> str:
    """What one utterance reads: one sentence, sometimes two (as a reader goes on).

    Examples
    --------
    >>> import numpy as np
    >>> len(utterance_text(np.random.default_rng(0))) > 10
    True
    """
    first = sentence(rng)
    return f"{first} {sentence(rng)}" if rng.random() < 0.3 else first


def readspeech_plan(scale: float = 1.0) -> tuple[int, int]:
    """Speakers and utterances per speaker at ``scale`` (scale 1 is about one hour of speech).

    The number of speakers grows with the size, each reading
    :data:`UTTERANCES_PER_SPEAKER` utterances (fewer, down to 6, in tiny
    corpora, which keep at least 4 speakers).

    Examples
    --------
    >>> readspeech_plan(1.0), readspeech_plan(0.1), readspeech_plan(0.01)
    ((65, 12), (6, 13), (4, 6))
    """
    if not (isinstance(scale, int | float) and 0 < scale <= 10):
        raise EmocircError(f"scale {scale!r}: expected a number in (0, 10] (about hours of speech)")
    total = max(24, round(float(scale) * 3600 / MEAN_SECONDS))
    speakers = max(4, round(total / UTTERANCES_PER_SPEAKER))
    per_speaker = max(6, round(total / speakers))
    return speakers, per_speaker


def _variant_order() -> list[tuple[str, str]]:
    """The corpus's variants, genders interleaved in proportion (female ones are fewer)."""
    female = [(v, "F") for v in voices_for("readspeech", "F")]
    male = [(v, "M") for v in voices_for("readspeech", "M")]
    out: list[tuple[str, str]] = []
    # Bresenham-style interleave: each female variant sits among the males, not all at the start.
    n = len(female) + len(male)
    for k in range(n):
        want_f = round((k + 1) * len(female) / n) - round(k * len(female) / n)
        out.append(female.pop(0) if want_f and female else male.pop(0) if male else female.pop(0))
    return out


def readspeech_speakers(seed: int = 0, n_speakers: int | None = None) -> list[SpeakerProfile]:
    """The read-speech corpus's speakers: ``rs000``, ``rs001``, ...

    Speaker ``k`` reads with variant ``k`` of this corpus's (cycling when
    there are more speakers than variants) in accent ``(k mod n + k // n) mod 8``
    (``n`` variants), so a variant that returns comes back with the next
    accent, and with habits of its own drawn from ``seed``.

    Parameters
    ----------
    seed : int
        Seed of the habits.
    n_speakers : int, optional
        How many (default: the plan's at scale 1).

    Examples
    --------
    >>> spk = readspeech_speakers(n_speakers=3)
    >>> [s.speaker for s in spk], spk[0].voice.split("+")[0]
    (['rs000', 'rs001', 'rs002'], 'en-us')
    """
    n_speakers = readspeech_plan(1.0)[0] if n_speakers is None else int(n_speakers)
    if n_speakers < 1:
        raise EmocircError(f"n_speakers={n_speakers}: expected at least 1")
    from emocirc.synth import named_rng  # synth writes this corpus, so it imports this module

    variants = _variant_order()
    out = []
    for k in range(n_speakers):
        variant, gender = variants[k % len(variants)]
        # Position in the cycle plus the cycle's number: a returning variant moves one accent on.
        accent = ACCENTS[(k % len(variants) + k // len(variants)) % len(ACCENTS)]
        rng = named_rng(seed, f"readspeech-speaker-{k}")
        out.append(random_speaker(f"rs{k:03d}", gender, f"{accent}+{variant}", rng))
    return out


# --------------------------------------------------------------------------- alignments


def frame_alignment(segments: list[tuple[float, float, str]], n_samples: int) -> pd.DataFrame:
    """The phoneme of each 20 ms frame of a signal of ``n_samples`` samples at 16 kHz.

    Frames are wav2vec2's: their number is
    :func:`emocirc.frames.frame_counts` for wav2vec2-base's feature
    encoder (the geometry every backbone of the project shares), frame ``k``
    covers samples ``[320 k, 320 k + 400)``, and its phoneme is the one at
    the frame's centre.

    Parameters
    ----------
    segments : list of (start, end, phoneme)
        Seconds, as :func:`emocirc.synth.synthesize_aligned` returns them.
    n_samples : int
        Length of the signal.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame``, ``start``, ``end`` (seconds) and ``phone``.

    Examples
    --------
    >>> table = frame_alignment([(0.0, 0.1, "sil"), (0.1, 0.5, "a"), (0.5, 1.0, "sil")], 16000)
    >>> len(table), table["phone"].tolist()[3:7]
    (49, ['sil', 'sil', 'a', 'a'])
    """
    from emocirc.backbones import builtin_config
    from emocirc.frames import frame_counts, frame_hop, receptive_field

    config = builtin_config("base-random")
    hop, width = frame_hop(config), receptive_field(config)
    n_frames = frame_counts(config, n_samples)
    starts = np.arange(max(n_frames, 0)) * hop
    centres = (starts + width / 2) / SAMPLE_RATE
    bounds = np.array([end for _, end, _ in segments])
    phones = np.array([p for *_, p in segments], dtype=object)
    idx = np.minimum(np.searchsorted(bounds, centres, side="right"), len(segments) - 1)
    return pd.DataFrame(
        {
            "frame": np.arange(len(starts)),
            "start": np.round(starts / SAMPLE_RATE, 4),
            "end": np.round((starts + width) / SAMPLE_RATE, 4),
            "phone": phones[idx] if len(starts) else np.array([], dtype=object),
        }
    )


def write_alignment(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write a frame alignment as a tab-separated file (the ``.phones.tsv`` beside a WAV)."""
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")


def read_alignment(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``.phones.tsv`` frame alignment; a missing or malformed file is an :class:`EmocircError`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.phones.tsv"
    >>> write_alignment(p, frame_alignment([(0.0, 1.0, "a")], 16000))
    >>> read_alignment(p)["phone"].unique().tolist()
    ['a']
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", keep_default_na=False, dtype={"phone": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise EmocircError(f"{path}: cannot read the phoneme alignment ({err})") from err
    if list(table.columns) != ["frame", "start", "end", "phone"]:
        raise EmocircError(f"{path}: expected columns frame, start, end, phone; got {list(table.columns)}")
    return table


def alignment_path(wav: str | os.PathLike[str]) -> Path:
    """The alignment file beside a WAV file.

    Examples
    --------
    >>> alignment_path("rs000/rs000-0001.wav").name
    'rs000-0001.phones.tsv'
    """
    wav = Path(wav)
    return wav.with_name(wav.stem + PHONES_SUFFIX)


def frame_labels(table: pd.DataFrame) -> list[np.ndarray]:
    """The phoneme of every frame of every utterance of a :func:`load_readspeech` table.

    What :func:`emocirc.probing.phoneme_probe` takes, in the table's order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_alignment(d / "u.phones.tsv", frame_alignment([(0.0, 0.5, "a"), (0.5, 1.0, "b")], 16000))
    >>> [labels.size for labels in frame_labels(pd.DataFrame({"phones": [d / "u.phones.tsv"]}))]
    [49]
    """
    if "phones" not in table.columns:
        raise EmocircError("table: expected a 'phones' column of alignment paths (see load_readspeech)")
    return [read_alignment(path)["phone"].to_numpy(dtype=str) for path in table["phones"]]


def load_readspeech(root: str | os.PathLike[str]) -> pd.DataFrame:
    """The utterances of a read-speech corpus: ``id``, ``path``, ``speaker``, ``gender``, ``text``, ...

    Also ``duration`` and ``phones`` (the alignment's path).

    Examples
    --------
    >>> import tempfile
    >>> from emocirc.synth import synthesize_readspeech
    >>> root = synthesize_readspeech(tempfile.mkdtemp() + "/rs", scale=0.01, jobs=1)
    >>> df = load_readspeech(root)
    >>> len(df), df["speaker"].nunique(), bool(df["phones"].map(lambda p: p.is_file()).all())
    (24, 4, True)
    """
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise EmocircError(f"{root}: expected a read-speech corpus with {MANIFEST}")
    table = pd.read_csv(manifest, sep="\t", keep_default_na=False)
    table = table.rename(columns={"name": "id"})
    table["path"] = [root / s / f"{name}.wav" for s, name in zip(table["speaker"], table["id"], strict=True)]
    table["phones"] = [alignment_path(p) for p in table["path"]]
    return table


__all__ = [
    "ACCENTS",
    "MANIFEST",
    "PHONES_SUFFIX",
    "TEXT_VERSION",
    "VOCABULARY",
    "alignment_path",
    "frame_alignment",
    "frame_labels",
    "load_readspeech",
    "read_alignment",
    "readspeech_plan",
    "readspeech_speakers",
    "sentence",
    "utterance_text",
    "write_alignment",
]
