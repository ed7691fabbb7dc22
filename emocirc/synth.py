"""The embedded corpora: synthetic emotional speech in the EMODB and IEMOCAP layouts, and read speech.

EMODB and IEMOCAP cannot be downloaded here, and most readers try the book
before they hold the licensed corpora.  This module speaks their sentences
with eSpeak NG (:mod:`emocirc.espeak`), renders each emotion with the rule
table of :mod:`emocirc.synthesis_rules`, and writes the files exactly as the real
releases lay them out, so :func:`emocirc.corpora.load_corpus` reads them
unchanged and every chapter runs anywhere.

The unlabelled read-speech corpus that pre-training starts from
(:func:`synthesize_readspeech`; texts, speakers and alignments in
:mod:`emocirc.readspeech`) is written here too, by the same machinery.
Every corpus speaks with eSpeak voice variants of its own
(:mod:`emocirc.voices`).

Synthetic speech is not human speech: the corpora exercise the code path and
show whether a method picks up the prosodic differences that were put in,
nothing about how people express emotion.

Every utterance is a pure function of the seed and its name (its random
stream is seeded from both), so the same seed gives byte-identical files
whatever the number of worker processes.  A corpus directory is built in a
temporary sibling and renamed into place when complete.

Examples
--------
>>> import tempfile, pathlib
>>> root = synthesize_emodb(pathlib.Path(tempfile.mkdtemp()) / "emodb", scale=0.05)
>>> len(list((root / "wav").glob("*.wav")))
70
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import soxr

from emocirc import espeak
from emocirc._io import atomic_dir, default_cache_dir, file_lock
from emocirc.audio import SAMPLE_RATE, write_wav
from emocirc.corpora import iemocap
from emocirc.corpora.emodb import EMOTIONS as EMODB_CODES
from emocirc.corpora.emodb import SPEAKERS as EMODB_SPEAKERS
from emocirc.corpora.emodb import TEXTS as EMODB_TEXTS
from emocirc.errors import EmocircError
from emocirc.provenance import SYNTHETIC_MARKER, is_synthetic
from emocirc.synthesis_rules import (
    EMODB_EMOTIONS,
    RULES,
    RenderedProsody,
    SpeakerProfile,
    random_speaker,
    render_prosody,
)
from emocirc.voices import voices_for

#: Bump whenever a change to this module or the rule table changes the audio:
#: it is part of the cache key, so cached corpora are then regenerated.
GENERATOR_VERSION = "3"  # 2, 3: EMODB voices disjoint from the other corpora's (emocirc.voices)

#: Kinds of corpus :func:`ensure_corpus` can make.
KINDS: tuple[str, ...] = ("emodb", "iemocap", "readspeech")

#: Manifest of rendered prosody, one row per utterance, written beside the audio.
MANIFEST = "emocirc-synthetic-utterances.tsv"

#: Level of a neutral utterance relative to eSpeak's output (leaves headroom
#: for loud emotions and loud speakers).
_BASE_GAIN_DB = -16.0

_MAX_PEAK = 0.9

#: eSpeak voice per EMODB speaker: German with the variants :mod:`emocirc.voices` allots to EMODB
#: (gender from the release).
EMODB_VOICES: dict[str, str] = dict(
    sorted(
        (code, f"de+{variant}")
        for g in ("F", "M")
        for code, variant in zip(
            sorted(c for c, sex in EMODB_SPEAKERS.items() if sex == g), voices_for("emodb", g), strict=True
        )
    )
)

#: EMODB's emotion initials (German) per canonical emotion.
EMODB_LETTERS: dict[str, str] = {label: letter for letter, label in EMODB_CODES.items()}

#: eSpeak voices per IEMOCAP session, (female, male): American English with the variants
#: :mod:`emocirc.voices` allots to IEMOCAP.
IEMOCAP_VOICES: dict[int, tuple[str, str]] = {
    session: (f"en-us+{female}", f"en-us+{male}")
    for session, female, male in zip(
        range(1, 6), voices_for("iemocap", "F"), voices_for("iemocap", "M"), strict=True
    )
}

#: IEMOCAP code -> the emotion whose prosody renders it (``xxx`` and ``oth`` draw one).
IEMOCAP_CODES: dict[str, str] = {code: label for code, label in iemocap.CODES.items() if label != "other"}

#: Share of each IEMOCAP code (xxx is "no agreement", oth "other"); the four
#: classes dominate, but enough else remains that the four-class filter matters.
IEMOCAP_SHARES: dict[str, float] = {
    "neu": 0.22,
    "fru": 0.12,
    "exc": 0.11,
    "hap": 0.09,
    "ang": 0.12,
    "sad": 0.13,
    "xxx": 0.12,
    "sur": 0.03,
    "fea": 0.02,
    "dis": 0.02,
    "oth": 0.02,
}

_ANNOTATOR_NAMES = {
    "neu": "Neutral",
    "hap": "Happiness",
    "exc": "Excited",
    "sad": "Sadness",
    "ang": "Anger",
    "fru": "Frustration",
    "sur": "Surprise",
    "fea": "Fear",
    "dis": "Disgust",
    "oth": "Other",
}

_IMPRO_LINES = (
    "Excuse me, is this the line for the forms?",
    "I have been waiting here for over an hour.",
    "You need to fill out this one first.",
    "Well, nobody told me that when I came in.",
    "I got the letter this morning.",
    "They said I can start next week.",
    "Do you remember the house by the lake?",
    "We used to go there every summer.",
    "I just don't know what to do anymore.",
    "It was supposed to be a simple trip.",
    "Can you believe they lost my bag again?",
    "I will call them first thing tomorrow.",
    "That's the best news I've heard all year.",
    "Let's go out tonight and celebrate.",
    "He left without saying a word.",
    "Maybe we should talk about it later.",
    "I told you this would happen.",
    "Why didn't you say something sooner?",
    "The flight was moved to six o'clock.",
    "I think we can still make it.",
    "Everything is going to be fine.",
    "I'm not going back there again.",
    "Look, I'm doing the best I can.",
    "Okay, let me check the list once more.",
)

_SCRIPT_LINES = {
    1: (
        "What's the matter with you?",
        "Nothing. I was just thinking.",
        "You've been quiet all evening.",
        "I read the letter you left on the table.",
        "That letter was not meant for you.",
        "Then why did you leave it there?",
        "I wanted to tell you myself.",
        "Tell me now, then.",
    ),
    2: (
        "Did you bring the tickets?",
        "They are in my coat, I think.",
        "The train leaves in ten minutes.",
        "We have plenty of time.",
        "You always say that.",
        "And we always make it.",
        "Not last time.",
        "Last time was different.",
    ),
}


# --------------------------------------------------------------------------
# One utterance


def named_rng(seed: int, name: str) -> np.random.Generator:
    """The random stream of a named thing (an utterance, a session, a speaker) under ``seed``.

    Seeded by the name, not a position, so an utterance is the same whatever
    the scale, the order or the worker that renders it.

    Examples
    --------
    >>> float(named_rng(0, "a").random()) == float(named_rng(0, "a").random())
    True
    >>> float(named_rng(0, "a").random()) == float(named_rng(0, "b").random())
    False
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]))


def _shape_text(text: str, emotion: str) -> str:
    # eSpeak's exclamation intonation for the loud, fast emotions.
    if emotion in ("anger", "happiness", "excitement") and text.endswith("."):
        return text[:-1] + "!"
    return text


def _jitter(
    x: np.ndarray, percent: float, rate: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Perturb the pitch period every 5 ms by resampling with a random rate.

    Returns the signal and, for each output sample, the input position it was read from
    (``None`` when nothing changed), so that times in the input can be carried over.
    """
    if percent <= 0 or x.size < 2:
        return x, None
    step = max(1, rate // 200)
    n_ctrl = x.size // step + 2
    ratio = np.repeat(1.0 + (percent / 100.0) * rng.standard_normal(n_ctrl), step)
    pos = np.cumsum(ratio) - ratio[0]
    pos = pos[pos <= x.size - 1]
    return np.interp(pos, np.arange(x.size), x), pos


def _envelope(x: np.ndarray, width: int) -> np.ndarray:
    """Moving RMS over ``width`` samples (centred), by cumulative sums: O(n)."""
    c = np.concatenate([[0.0], np.cumsum(x**2)])
    half = width // 2
    hi = np.minimum(np.arange(x.size) + half + 1, x.size)
    lo = np.maximum(np.arange(x.size) - half, 0)
    return np.sqrt(np.maximum(c[hi] - c[lo], 0.0) / (hi - lo))


def synthesize_utterance(
    text: str,
    emotion: str,
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    arousal: float | None = None,
) -> tuple[np.ndarray, RenderedProsody]:
    """Speak ``text`` with ``emotion`` in ``speaker``'s voice.

    The emotion's rule (:data:`emocirc.synthesis_rules.RULES`) is combined with the
    speaker's habits and per-utterance variation drawn from ``rng``; eSpeak
    renders pitch level, pitch range and rate, then post-processing adds
    jitter, harshness (soft saturation, a "chest tone"), breathiness
    (envelope-following noise) and the loudness change.

    Parameters
    ----------
    text : str
        What is said (the speaker's voice sets the language).
    emotion : str
        A canonical emotion with a row in the rule table.
    speaker : SpeakerProfile
        Voice and habits.
    rng : numpy.random.Generator
        Source of all per-utterance variation; the same state gives the same samples.
    arousal : float, optional
        The utterance's own arousal on 1-5 (see :func:`emocirc.synthesis_rules.render_prosody`).

    Returns
    -------
    wave : numpy.ndarray
        float32 mono samples at 16 kHz, within [-1, 1].
    prosody : RenderedProsody
        The values used.

    Examples
    --------
    >>> spk = SpeakerProfile("1F", "F", "en-us+f2")
    >>> a, p = synthesize_utterance("I am fine.", "sadness", spk, np.random.default_rng(0))
    >>> b, _ = synthesize_utterance("I am fine.", "sadness", spk, np.random.default_rng(0))
    >>> a.dtype, bool(np.array_equal(a, b)), p.emotion
    (dtype('float32'), True, 'sadness')
    """
    wave, prosody, _ = _render(text, emotion, speaker, rng, arousal, phonemes=False)
    return wave, prosody


def synthesize_aligned(
    text: str, speaker: SpeakerProfile, rng: np.random.Generator
) -> tuple[np.ndarray, RenderedProsody, list[tuple[float, float, str]]]:
    """Read ``text`` aloud in ``speaker``'s neutral voice, with where each phoneme lies.

    The audio is what :func:`synthesize_utterance` makes of a neutral
    utterance; eSpeak's phoneme events (:func:`emocirc.espeak.synthesize_phonemes`)
    are carried through the jitter's time warp and the added lead-in, so
    the segments are times in the returned 16 kHz signal.

    Returns
    -------
    wave : numpy.ndarray
        float32 mono samples at 16 kHz.
    prosody : RenderedProsody
        The values used.
    segments : list of (start, end, phoneme)
        Seconds; they tile ``[0, len(wave) / 16000]``, silence as :data:`emocirc.espeak.SILENCE`.

    Examples
    --------
    >>> spk = SpeakerProfile("rs000", "M", "en-us+m8")
    >>> wave, _, segments = synthesize_aligned("the house", spk, np.random.default_rng(0))
    >>> [p for *_, p in segments]
    ['sil', 'ð', 'ə', 'h', 'aʊ', 's', 'sil']
    >>> segments[0][0], abs(segments[-1][1] - wave.size / 16000) < 1e-9
    (0.0, True)
    """
    wave, prosody, segments = _render(text, "neutral", speaker, rng, None, phonemes=True)
    assert segments is not None
    return wave, prosody, segments


def _render(
    text: str,
    emotion: str,
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    arousal: float | None,
    phonemes: bool,
) -> tuple[np.ndarray, RenderedProsody, list[tuple[float, float, str]] | None]:
    prosody = render_prosody(emotion, speaker, rng, arousal=arousal)
    settings = espeak.EspeakSettings(
        voice=speaker.voice, rate=prosody.rate, pitch=prosody.pitch, range=prosody.range
    )
    if phonemes:
        raw, rate, raw_segments = espeak.synthesize_phonemes(_shape_text(text, emotion), settings=settings)
    else:
        raw, rate = espeak.synthesize(_shape_text(text, emotion), settings=settings)
    x = raw.astype(np.float64) / 32768.0
    x, warp = _jitter(x, prosody.jitter, rate, rng)
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if prosody.harshness > 0 and peak > 0:
        drive = 1.0 + 3.0 * prosody.harshness
        x = np.tanh(drive * x / peak) / np.tanh(drive) * peak
    if prosody.breathiness > 0:
        env = _envelope(x, width=int(0.02 * rate))
        # First difference tilts white noise towards high frequencies, as aspiration noise is.
        noise = np.diff(rng.standard_normal(x.size + 1)) / np.sqrt(2.0)
        x = x + prosody.breathiness * 0.6 * env * noise
    if rms > 0:
        # Voice quality changes the timbre, not the loudness: that is gain_db's job.
        x = x * (rms / float(np.sqrt(np.mean(x**2))))
    x = x * 10.0 ** ((_BASE_GAIN_DB + prosody.gain_db) / 20.0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > _MAX_PEAK:
        # A recording engineer would have turned this one down rather than clip it.
        x = x * (_MAX_PEAK / peak)
    lead, tail = (int(rng.uniform(0.08, 0.25) * rate) for _ in range(2))
    body = x.size
    x = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
    x = x + 10.0 ** (-70 / 20) * rng.standard_normal(x.size)  # a faint noise floor, as in any room
    y = np.clip(soxr.resample(x, rate, SAMPLE_RATE), -1.0, 32767 / 32768).astype(np.float32)
    segments = None
    if phonemes:
        segments = _carry_segments(raw_segments, warp, body, lead, rate, y.size / SAMPLE_RATE)
    return y, prosody, segments


def _carry_segments(
    raw_segments: list[tuple[int, int, str]],
    warp: np.ndarray | None,
    body: int,
    lead: int,
    rate: int,
    total: float,
) -> list[tuple[float, float, str]]:
    """Phoneme segments in eSpeak's samples -> seconds of the finished signal (lead-in and tail silent)."""
    starts = np.array([start for start, _, _ in raw_segments], dtype=float)
    # The jitter read output sample j from input position warp[j], so input sample s
    # lands at the first j with warp[j] >= s.
    moved = np.minimum(np.searchsorted(warp, starts) if warp is not None else starts, body)
    times = [min((lead + m) / rate, total) for m in moved] + [min((lead + body) / rate, total)]
    segments = [(times[k], times[k + 1], phone) for k, (_, _, phone) in enumerate(raw_segments)]
    silence = espeak.SILENCE
    head = [(0.0, times[0], silence)]
    tail = [(times[-1], total, silence)]
    segments = head + segments + tail
    merged: list[tuple[float, float, str]] = []
    for start, end, phone in segments:
        if end <= start:
            continue
        if merged and merged[-1][2] == phone:
            merged[-1] = (merged[-1][0], end, phone)
        else:
            merged.append((start, end, phone))
    return [(float(a), float(b), p) for a, b, p in merged]


def _render_task(task: dict) -> dict:
    """Render and write one utterance (top-level so worker processes can run it)."""
    speaker = SpeakerProfile(**task["speaker"])
    rng = named_rng(task["seed"], task["name"])
    wave, prosody = synthesize_utterance(
        task["text"], task["emotion"], speaker, rng, arousal=task.get("arousal")
    )
    write_wav(task["path"], wave)
    return {"name": task["name"], "duration": wave.size / SAMPLE_RATE, **prosody.to_dict()}


def _read_task(task: dict) -> dict:
    """Render and write one read-speech utterance; its phoneme segments come back to the parent."""
    speaker = SpeakerProfile(**task["speaker"])
    rng = named_rng(task["seed"], task["name"])
    wave, prosody, segments = synthesize_aligned(task["text"], speaker, rng)
    write_wav(task["path"], wave)
    return {
        "name": task["name"],
        "duration": wave.size / SAMPLE_RATE,
        "samples": int(wave.size),
        "segments": segments,
        **prosody.to_dict(),
    }


def _run_tasks(tasks: list[dict], jobs: int | None, worker=_render_task) -> list[dict]:
    jobs = jobs if jobs is not None else min(2, os.cpu_count() or 1)
    if jobs <= 1 or len(tasks) < 50:
        return [worker(t) for t in tasks]
    # Results come back in task order, and each task is self-contained, so the
    # files do not depend on how the work was shared out.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
        return list(pool.map(worker, tasks, chunksize=16))


def _check_scale(scale: float) -> float:
    # Up to 20: IEMOCAP's real size (about 10,000 utterances) is scale 11.2.
    if not (isinstance(scale, int | float) and 0 < scale <= 20):
        raise EmocircError(f"scale {scale!r}: expected a number in (0, 20]")
    return float(scale)


def _check_out(out: str | os.PathLike[str], overwrite: bool) -> Path:
    out = Path(out)
    if out.exists() and not overwrite:
        if not out.is_dir() or any(out.iterdir()):
            raise EmocircError(
                f"{out}: already exists; expected a new or empty directory (or --overwrite / overwrite=True)"
            )
    return out


def _write_metadata(root: Path, kind: str, seed: int, scale: float, speakers, results: list[dict]) -> None:
    meta = {
        "generator": "emocirc.synth",
        "kind": kind,
        "seed": seed,
        "scale": scale,
        "generator_version": GENERATOR_VERSION,
        "espeak_ng": espeak.version(),
        "utterances": len(results),
        "speakers": [s.to_dict() for s in speakers],
        "note": (
            "synthetic read speech (eSpeak NG, neutral), not human speech"
            if kind == "readspeech"
            else "synthetic speech (eSpeak NG with rule-based emotional prosody), not human speech"
        ),
    }
    (root / SYNTHETIC_MARKER).write_text(json.dumps(meta, indent=2) + "\n")
    table = pd.DataFrame(results)
    float_cols = table.select_dtypes("float").columns
    table[float_cols] = table[float_cols].round(4)
    table.to_csv(root / MANIFEST, sep="\t", index=False, lineterminator="\n")


# --------------------------------------------------------------------------
# EMODB layout


def emodb_speakers(seed: int = 0) -> list[SpeakerProfile]:
    """The ten EMODB speakers' synthetic voices and habits.

    Examples
    --------
    >>> [s.speaker for s in emodb_speakers()][:3]
    ['03', '08', '09']
    >>> emodb_speakers()[0].voice, emodb_speakers()[0].gender
    ('de+m4', 'M')
    """
    rng = named_rng(seed, "emodb-speakers")
    return [
        random_speaker(code, EMODB_SPEAKERS[code], EMODB_VOICES[code], rng) for code in sorted(EMODB_SPEAKERS)
    ]


def emodb_plan(seed: int = 0, scale: float = 1.0) -> tuple[int, int]:
    """Number of sentences and of versions per speaker x emotion at ``scale``.

    Scale 1 gives all ten sentences in two versions (1,400 files); smaller
    scales drop versions, then sentences; every speaker and emotion stays.

    Examples
    --------
    >>> emodb_plan(scale=1.0), emodb_plan(scale=0.5), emodb_plan(scale=0.05)
    ((10, 2), (10, 1), (1, 1))
    """
    scale = _check_scale(scale)
    versions = max(1, round(2 * scale))
    sentences = int(np.clip(round(20 * scale / versions), 1, 10))
    return sentences, versions


def synthesize_emodb(
    out: str | os.PathLike[str],
    seed: int = 0,
    scale: float = 1.0,
    jobs: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic corpus in EMODB's layout (``<out>/wav/SSTTTEV.wav``).

    Parameters
    ----------
    out : path
        Corpus root to create (must not exist, or be empty, unless ``overwrite``).
    seed : int
        Seed of every random choice; the same seed gives byte-identical files.
    scale : float
        Size relative to the default 1,400 files (10 speakers x 10 sentences
        x 7 emotions x 2 versions), see :func:`emodb_plan`.
    jobs : int, optional
        Worker processes (default: up to 2).
    overwrite : bool
        Replace an existing corpus at ``out`` (atomically).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = _check_out(out, overwrite)
    sentences, versions = emodb_plan(seed, scale)
    speakers = emodb_speakers(seed)
    codes = list(EMODB_TEXTS)[:sentences]
    with atomic_dir(out) as tmp:
        tasks = []
        for spk in speakers:
            for code in codes:
                for emotion in EMODB_EMOTIONS:
                    for v in range(versions):
                        name = f"{spk.speaker}{code}{EMODB_LETTERS[emotion]}{chr(ord('a') + v)}"
                        tasks.append(
                            {
                                "name": name,
                                "text": EMODB_TEXTS[code],
                                "emotion": emotion,
                                "speaker": spk.to_dict(),
                                "seed": seed,
                                "path": str(tmp / "wav" / f"{name}.wav"),
                            }
                        )
        results = _run_tasks(tasks, jobs)
        for task, res in zip(tasks, results, strict=True):
            res.update(speaker=task["speaker"]["speaker"], text=task["text"])
        _write_metadata(tmp, "emodb", seed, scale, speakers, results)
    return out


# --------------------------------------------------------------------------
# IEMOCAP layout


def iemocap_speakers(seed: int = 0) -> list[SpeakerProfile]:
    """The ten IEMOCAP speakers (``1F``, ``1M``, ... ``5M``): voices and habits.

    Examples
    --------
    >>> [s.speaker for s in iemocap_speakers()][:4]
    ['1F', '1M', '2F', '2M']
    """
    rng = named_rng(seed, "iemocap-speakers")
    out = []
    for session, (female, male) in IEMOCAP_VOICES.items():
        out.append(random_speaker(f"{session}F", "F", female, rng))
        out.append(random_speaker(f"{session}M", "M", male, rng))
    return out


def iemocap_plan(scale: float = 1.0) -> tuple[list[tuple[str, str]], int]:
    """Dialogs per session (lead gender, dialog suffix) and utterances per dialog at ``scale``.

    Scale 1 gives 6 dialogs (4 improvised, 2 scripted) of 30 utterances in
    each of 5 sessions: 900 utterances.

    Examples
    --------
    >>> dialogs, n = iemocap_plan(1.0)
    >>> len(dialogs), n, dialogs[0], dialogs[-1]
    (6, 30, ('F', 'impro01'), ('M', 'script02_1'))
    >>> iemocap_plan(0.05)[1]
    6
    """
    scale = _check_scale(scale)
    if scale >= 0.5:
        dialogs = [("F", "impro01"), ("M", "impro02"), ("F", "impro03"), ("M", "impro04")]
        dialogs += [("F", "script01_1"), ("M", "script02_1")]
    elif scale >= 0.2:
        dialogs = [("F", "impro01"), ("M", "impro02"), ("F", "script01_1"), ("M", "script02_1")]
    else:
        dialogs = [("F", "impro01"), ("M", "script01_1")]
    per_dialog = max(6, round(900 * scale / (5 * len(dialogs))))
    return dialogs, per_dialog


def _allocate(n: int, shares: dict[str, float], required: tuple[str, ...]) -> list[str]:
    """Largest-remainder allocation of ``n`` items to codes, each required code at least once."""
    raw = {code: n * share for code, share in shares.items()}
    counts = {code: int(v) for code, v in raw.items()}
    for code in sorted(raw, key=lambda c: raw[c] - counts[c], reverse=True)[: n - sum(counts.values())]:
        counts[code] += 1
    for code in required:
        while counts[code] == 0:
            donor = max(counts, key=lambda c: counts[c])
            counts[donor] -= 1
            counts[code] += 1
    return [code for code, k in counts.items() for _ in range(k)]


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def synthesize_iemocap(
    out: str | os.PathLike[str],
    seed: int = 0,
    scale: float = 1.0,
    jobs: int | None = None,
    overwrite: bool = False,
    shares: dict[str, float] | None = None,
) -> Path:
    """Write a synthetic corpus in IEMOCAP's layout.

    Five sessions of two speakers (F and M), improvised and scripted dialogs
    (:func:`iemocap_plan`; 900 utterances at scale 1), wavs at
    ``Session{n}/sentences/wav/<dialog>/<utterance>.wav``, EmoEvaluation
    summary files with times, codes (neu, hap, exc, sad, ang, fru, sur, fea,
    dis, oth, xxx) and valence/arousal/dominance on 1-5, annotator lines,
    the ``Categorical/``, ``Attribute/`` and ``Self-evaluation/`` sub-folders,
    a ``._`` resource-fork decoy and transcriptions.

    Each utterance's valence, arousal and dominance are drawn around its
    emotion's place on the circumplex (:data:`emocirc.synthesis_rules.RULES`); its
    prosody follows its own arousal, and the summary values are the mean of
    two simulated annotators' integer ratings, as in the release.

    Parameters and return value are those of :func:`synthesize_emodb`;
    ``shares`` replaces :data:`IEMOCAP_SHARES` (fractions of the codes).
    """
    out = _check_out(out, overwrite)
    dialogs, per_dialog = iemocap_plan(scale)
    speakers = {s.speaker: s for s in iemocap_speakers(seed)}
    required = ("neu", "hap", "exc", "sad", "ang", "xxx")
    with atomic_dir(out) as tmp:
        tasks: list[dict] = []
        for session in IEMOCAP_VOICES:
            rng = named_rng(seed, f"session{session}")
            codes = _allocate(len(dialogs) * per_dialog, shares or IEMOCAP_SHARES, required)
            codes = list(rng.permutation(codes))
            for d, (lead, suffix) in enumerate(dialogs):
                dialog = f"Ses{session:02d}{lead}_{suffix}"
                gender = lead
                counters = {"F": 0, "M": 0}
                script = _SCRIPT_LINES[int(suffix[6:8])] if suffix.startswith("script") else None
                for i in range(per_dialog):
                    code = str(codes[d * per_dialog + i])
                    name = f"{dialog}_{gender}{counters[gender]:03d}"
                    counters[gender] += 1
                    if code in IEMOCAP_CODES:
                        emotion = IEMOCAP_CODES[code]
                    elif code == "xxx":  # no agreement: some emotion the annotators split on
                        emotion = str(
                            rng.choice(
                                ["neutral", "frustration", "anger", "sadness", "happiness", "excitement"]
                            )
                        )
                    else:
                        emotion = str(rng.choice(["neutral", "surprise", "frustration"]))
                    spread = 0.6 if code in ("xxx", "oth") else 0.4
                    centre = RULES.loc[emotion, ["valence", "arousal", "dominance"]].to_numpy(float)
                    vad = np.clip(centre + rng.normal(0.0, spread, 3), 1.0, 5.0)
                    text = script[i % len(script)] if script else str(rng.choice(_IMPRO_LINES))
                    tasks.append(
                        {
                            "name": name,
                            "text": text,
                            "emotion": emotion,
                            "code": code,
                            "vad": vad.tolist(),
                            "arousal": float(vad[1]),
                            "speaker": speakers[f"{session}{gender}"].to_dict(),
                            "seed": seed,
                            "session": session,
                            "dialog": dialog,
                            "path": str(
                                tmp / f"Session{session}" / "sentences" / "wav" / dialog / f"{name}.wav"
                            ),
                        }
                    )
                    # Turn-taking, with an occasional second turn by the same speaker.
                    if rng.random() > 0.15:
                        gender = "M" if gender == "F" else "F"
        results = _run_tasks(tasks, jobs)
        for task, res in zip(tasks, results, strict=True):
            res.update(speaker=task["speaker"]["speaker"], text=task["text"], code=task["code"])
            res.update(valence=task["vad"][0], arousal=task["vad"][1], dominance=task["vad"][2])
        _write_iemocap_annotations(tmp, tasks, results, seed)
        _write_metadata(tmp, "iemocap", seed, scale, list(speakers.values()), results)
    return out


def _write_iemocap_annotations(root: Path, tasks: list[dict], results: list[dict], seed: int) -> None:
    by_dialog: dict[str, list[tuple[dict, dict]]] = {}
    for task, res in zip(tasks, results, strict=True):
        by_dialog.setdefault(task["dialog"], []).append((task, res))
    written_decoy: set[int] = set()
    for dialog, items in by_dialog.items():
        session = items[0][0]["session"]
        rng = named_rng(seed, f"annot-{dialog}")
        emo_dir = root / f"Session{session}" / "dialog" / "EmoEvaluation"
        for sub in ("Categorical", "Attribute", "Self-evaluation"):
            (emo_dir / sub).mkdir(parents=True, exist_ok=True)
        (root / f"Session{session}" / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
        summary = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        cat_lines, atr_lines, self_lines, transcript = [], [], [], []
        t = float(rng.uniform(1.0, 5.0))
        evaluators = rng.choice([1, 2, 3, 4, 5, 6], size=3, replace=False)
        for task, res in items:
            start, end = t, t + res["duration"]
            t = end + float(rng.uniform(0.2, 1.8))
            name, code = task["name"], task["code"]
            vad = np.asarray(task["vad"])
            ratings = np.clip(np.rint(vad[None, :] + rng.normal(0.0, 0.5, (2, 3))), 1, 5).astype(int)
            mean = ratings.mean(axis=0)
            summary.append(
                f"[{_fmt(start)} - {_fmt(end)}]\t{name}\t{code}\t[{', '.join(_fmt(v) for v in mean)}]"
            )
            if code == "xxx":
                cats = list(rng.choice(["neu", "fru", "ang", "sad", "hap", "exc"], size=3, replace=False))
            else:
                other = str(rng.choice(list(_ANNOTATOR_NAMES)))
                cats = [code, code, other if rng.random() < 0.4 else code]
            for e, cat in zip(evaluators, cats, strict=True):
                summary.append(f"C-E{e}:\t{_ANNOTATOR_NAMES[cat]};\t()")
                cat_lines.append(f"{name} :{_ANNOTATOR_NAMES[cat]}; ()")
            actor = name[-4]
            summary.append(f"C-{actor}1:\t{_ANNOTATOR_NAMES[cats[0]]};\t()")
            for e, (v, a, d) in zip(evaluators[:2], ratings, strict=True):
                summary.append(f"A-E{e}:\tval {v}; act {a}; dom  {d};\t()")
                atr_lines.append(f"{name} :act {a}; val {v}; dom  {d}; ()")
            self_lines.append(f"{name} :{_ANNOTATOR_NAMES[cats[0]]}; ()")
            summary.append("")
            transcript.append(f"{name} [{start:08.4f}-{end:08.4f}]: {task['text']}")
        (emo_dir / f"{dialog}.txt").write_text("\n".join(summary) + "\n")
        (emo_dir / "Categorical" / f"{dialog}_e{evaluators[0]}_cat.txt").write_text(
            "\n".join(cat_lines) + "\n"
        )
        (emo_dir / "Attribute" / f"{dialog}_e{evaluators[0]}_atr.txt").write_text("\n".join(atr_lines) + "\n")
        (emo_dir / "Self-evaluation" / f"{dialog}.txt").write_text("\n".join(self_lines) + "\n")
        (root / f"Session{session}" / "dialog" / "transcriptions" / f"{dialog}.txt").write_text(
            "\n".join(transcript) + "\n"
        )
        if session not in written_decoy:
            # Copies made on a Mac carry AppleDouble resource forks beside each file.
            (emo_dir / f"._{dialog}.txt").write_bytes(
                b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(40)
            )
            written_decoy.add(session)


# --------------------------------------------------------------------------
# Read speech (the pre-training corpus)


def synthesize_readspeech(
    out: str | os.PathLike[str],
    seed: int = 0,
    scale: float = 1.0,
    jobs: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the unlabelled read-speech corpus of :mod:`emocirc.readspeech` (pre-training's LibriSpeech).

    ``<out>/<speaker>/<speaker>-<nnnn>.wav`` (16 kHz mono PCM), each with its
    frame-level phoneme alignment ``<speaker>-<nnnn>.phones.tsv`` beside it,
    a manifest (:data:`emocirc.readspeech.MANIFEST`: speaker, gender, text,
    duration, prosody) and the synthetic-corpus marker.  Everyone reads in a
    neutral voice; speakers and sizes follow
    :func:`emocirc.readspeech.readspeech_plan` (scale 1 is about an hour).

    Parameters and return value are those of :func:`synthesize_emodb`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = synthesize_readspeech(pathlib.Path(tempfile.mkdtemp()) / "rs", scale=0.01, jobs=1)
    >>> len(list(root.rglob("*.wav"))), len(list(root.rglob("*.phones.tsv")))
    (24, 24)
    """
    from emocirc import readspeech

    out = _check_out(out, overwrite)
    n_speakers, per_speaker = readspeech.readspeech_plan(scale)
    speakers = readspeech.readspeech_speakers(seed, n_speakers)
    with atomic_dir(out) as tmp:
        tasks = []
        for spk in speakers:
            for i in range(per_speaker):
                name = f"{spk.speaker}-{i:04d}"
                text = readspeech.utterance_text(named_rng(seed, f"text-{name}"))
                tasks.append(
                    {
                        "name": name,
                        "text": text,
                        "speaker": spk.to_dict(),
                        "seed": seed,
                        "path": str(tmp / spk.speaker / f"{name}.wav"),
                    }
                )
        results = _run_tasks(tasks, jobs, worker=_read_task)
        for task, res in zip(tasks, results, strict=True):
            segments = res.pop("segments")
            table = readspeech.frame_alignment(segments, res.pop("samples"))
            readspeech.write_alignment(readspeech.alignment_path(task["path"]), table)
            spk = task["speaker"]
            res.update(speaker=spk["speaker"], gender=spk["gender"], voice=spk["voice"], text=task["text"])
        _write_metadata(tmp, "readspeech", seed, scale, speakers, results)
    return out


# --------------------------------------------------------------------------
# The cache


def corpus_key(kind: str, seed: int = 0, scale: float = 1.0) -> str:
    """Folder name of a cached corpus: the kind and a hash of everything that shapes its audio.

    Examples
    --------
    >>> corpus_key("emodb").startswith("emodb-")
    True
    >>> corpus_key("emodb", seed=1) != corpus_key("emodb", seed=0)
    True
    """
    if kind not in KINDS:
        raise EmocircError(f"corpus kind {kind!r}: expected one of {', '.join(KINDS)}")
    params = {
        "kind": kind,
        "seed": int(seed),
        "scale": _check_scale(scale),
        "generator_version": GENERATOR_VERSION,
        "espeak_ng": espeak.version(),
        "rules": RULES.to_json(orient="split", double_precision=6),
    }
    if kind == "readspeech":
        from emocirc.readspeech import TEXT_VERSION

        params["text_version"] = TEXT_VERSION
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"{kind}-{digest}"


def ensure_corpus(
    kind: str,
    seed: int = 0,
    scale: float = 1.0,
    cache_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
) -> Path:
    """Path of a cached synthetic corpus, generating it on first use.

    The corpus lives in ``<cache_dir>/corpora/<kind>-<hash>`` (``cache_dir``
    defaults to :func:`emocirc._io.default_cache_dir`); the hash covers the
    seed, the scale, :data:`GENERATOR_VERSION`, the eSpeak NG version and the
    rule table, so a change to any of them makes a new corpus.  Concurrent
    callers wait on a lock rather than generate twice.

    Examples
    --------
    >>> import tempfile
    >>> root = ensure_corpus("iemocap", scale=0.05, cache_dir=tempfile.mkdtemp())
    >>> root.parent.name, sorted(p.name for p in root.glob("Session*"))[:2]
    ('corpora', ['Session1', 'Session2'])
    >>> ensure_corpus("iemocap", scale=0.05, cache_dir=root.parent.parent) == root
    True
    """
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = base / "corpora" / corpus_key(kind, seed, scale)
    if is_synthetic(root):
        return root
    with file_lock(base / "corpora" / f".{root.name}.lock"):
        if not is_synthetic(root):
            make = {"emodb": synthesize_emodb, "iemocap": synthesize_iemocap}.get(kind, synthesize_readspeech)
            make(root, seed=seed, scale=scale, jobs=jobs, overwrite=True)
    return root


def speaker_profiles(kind: str, seed: int = 0) -> list[SpeakerProfile]:
    """The synthetic speakers of a corpus kind (for new recordings in the same voices).

    Examples
    --------
    >>> len(speaker_profiles("iemocap"))
    10
    """
    if kind == "emodb":
        return emodb_speakers(seed)
    if kind == "iemocap":
        return iemocap_speakers(seed)
    if kind == "readspeech":
        from emocirc.readspeech import readspeech_speakers

        return readspeech_speakers(seed)
    raise EmocircError(f"corpus kind {kind!r}: expected one of {', '.join(KINDS)}")


__all__ = [
    "GENERATOR_VERSION",
    "KINDS",
    "SpeakerProfile",
    "corpus_key",
    "emodb_plan",
    "emodb_speakers",
    "ensure_corpus",
    "iemocap_plan",
    "iemocap_speakers",
    "named_rng",
    "speaker_profiles",
    "synthesize_emodb",
    "synthesize_aligned",
    "synthesize_iemocap",
    "synthesize_readspeech",
    "synthesize_utterance",
]
