"""The emotional heat map: a mood diary placed on the circumplex, day by day.

The seed report's Figure 6 shows a person's emotions over two weeks as a heat
map on Russell's circumplex; its stated aim is to draw the same map from the
voice alone.  This module does that in four steps:

1. a *diary*: recordings over several days, several a day, either the
   user's own (``DIR/<YYYY-MM-DD>/<HHMM>*.wav`` or a CSV with
   ``path,day[,time][,speaker]``; missing days allowed) or a synthetic one
   made by :func:`make_diary`, whose emotion mix drifts (or switches on a
   given day) from a varied, healthy tone towards low-valence, low-arousal
   sadness and boredom, in a voice from :func:`diary_voices`;
2. *speech and windows*: the speech in each recording found by voice
   activity detection (:func:`detect_speech`, :mod:`emocirc.vad`), each
   recording cut into windows of ``window_s`` seconds every ``hop_s``
   seconds (:func:`emocirc.features.extract_windows`), the windows with too
   little speech dropped, each embedded with the backbone
   (:func:`embed_windows`);
3. a *mapping* from embeddings to the valence-arousal plane, fitted on a
   labelled corpus (:func:`fit_va_mapping`) and applied to the windows;
4. a *density per day* over valence x arousal in ``[-1, 1]^2``
   (:func:`circumplex_density`) and summary numbers per day
   (:func:`day_summary`): mean valence, mean arousal, spread, intensity.

:func:`map_diary` runs steps 2-4 and returns a :class:`DiaryMap`, which
:mod:`emocirc.plotting.heatmap` draws; :mod:`emocirc.mood` turns it into
within-person monitoring and :mod:`emocirc.diary_report` into a report.

Coordinates: valence on x, arousal on y, both in ``[-1, 1]``; IEMOCAP's 1-5
ratings map to it by :func:`emocirc.russell.from_rating` (``(r - 3) / 2``).
Emotion labels without ratings sit at :data:`emocirc.russell.EMOTION_POSITIONS`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emocirc._io import atomic_dir
from emocirc.audio import SAMPLE_RATE, load_audio, write_wav
from emocirc.errors import EmocircError
from emocirc.provenance import SYNTHETIC_MARKER
from emocirc.russell import EMOTION_POSITIONS, from_rating
from emocirc.voices import diary_persons

#: Emotion mix of the first diary day: mostly neutral with a varied spectrum
#: (the seed's "healthy emotional tone").
HEALTHY_MIX: dict[str, float] = {
    "neutral": 0.35,
    "happiness": 0.30,
    "anger": 0.15,
    "sadness": 0.10,
    "boredom": 0.10,
}

#: Emotion mix of the last diary day: low valence, low arousal (the seed's
#: "diminished emotional tone").
DIMINISHED_MIX: dict[str, float] = {
    "neutral": 0.30,
    "happiness": 0.05,
    "anger": 0.0,
    "sadness": 0.35,
    "boredom": 0.30,
}

#: A synthesiser turns (emotion label, random generator) into a float32 mono
#: 16 kHz utterance.  Keeping it one callable lets the eSpeak synthesiser of
#: :mod:`emocirc.synth` and the test tone generator be swapped freely.
Synthesizer = Callable[[str, np.random.Generator], np.ndarray]


# --------------------------------------------------------------------------- diary


def day_mix(
    day_index: int, n_days: int, start: Mapping[str, float], end: Mapping[str, float]
) -> dict[str, float]:
    """Emotion probabilities of one diary day, linearly between ``start`` and ``end``.

    Examples
    --------
    >>> day_mix(0, 3, {"neutral": 1.0}, {"sadness": 1.0})
    {'neutral': 1.0, 'sadness': 0.0}
    >>> day_mix(1, 3, {"neutral": 1.0}, {"sadness": 1.0})
    {'neutral': 0.5, 'sadness': 0.5}
    """
    t = day_index / (n_days - 1) if n_days > 1 else 0.0
    labels = list(dict.fromkeys([*start, *end]))
    raw = {lab: (1 - t) * float(start.get(lab, 0.0)) + t * float(end.get(lab, 0.0)) for lab in labels}
    total = sum(raw.values())
    if total <= 0:
        raise EmocircError("emotion mix: expected some positive probability, got all zeros")
    return {lab: round(p / total, 12) for lab, p in raw.items()}


def tone_synthesizer(label: str, rng: np.random.Generator) -> np.ndarray:
    """A stand-in voice: a harmonic tone whose pitch and loudness follow arousal.

    Pitch rises with arousal (about 95 Hz to 240 Hz), loudness too, and the
    syllable rate; valence brightens the spectrum.  Enough for tests to have
    emotion-dependent audio without eSpeak.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> calm, angry = tone_synthesizer("boredom", rng), tone_synthesizer("anger", rng)
    >>> calm.dtype.name, float(np.sqrt(np.mean(angry**2))) > float(np.sqrt(np.mean(calm**2)))
    ('float32', True)
    """
    valence, arousal = _position(label)
    duration = float(rng.uniform(1.2, 2.2))
    t = np.arange(int(duration * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 150.0 * 2.0 ** (0.65 * arousal) * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6.28)))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    n_harmonics = int(round(6 + 4 * valence))
    wave = sum(np.sin(k * phase) / k for k in range(1, n_harmonics + 1))
    syllables = 0.5 - 0.5 * np.cos(2 * np.pi * (3.0 + 1.5 * arousal) * t)
    amplitude = 0.12 * 10 ** (0.5 * arousal)
    out = amplitude * syllables * wave / np.max(np.abs(wave))
    return out.astype(np.float32)


#: What the diary's speaker says: everyday lines, emotionally neutral in
#: wording, so that only the voice carries the emotion.
DIARY_LINES: tuple[str, ...] = (
    "I went for a walk by the river this morning.",
    "The bus was late again today.",
    "I talked to my sister on the phone.",
    "We had soup and bread for dinner.",
    "I tried to read a little before bed.",
    "The office was quiet this afternoon.",
    "I need to buy milk and some apples.",
    "It rained for most of the day.",
    "I watched the news and then went to sleep.",
    "My neighbour asked about the garden.",
    "I finished the report at last.",
    "Tomorrow I have to see the doctor.",
)

#: eSpeak NG variants of the diary persons, in the order :func:`diary_voices`
#: hands them out: British English ("en") with the variants that
#: :mod:`emocirc.voices` allots to the diary, so that no diary person shares a
#: voice with any other embedded corpus (the speakers the mapping was fitted
#: on, or the pre-training corpus).
_DIARY_VARIANTS: tuple[tuple[str, str], ...] = diary_persons()


def diary_voices(n: int) -> list[tuple[str, str]]:
    """The eSpeak voices of ``n`` synthetic diary persons: ``(voice, gender)`` each, all distinct.

    The one place that chooses the diary persons' voices.

    Examples
    --------
    >>> diary_voices(2)
    [('en+linda', 'F'), ('en+paul', 'M')]
    """
    if not 1 <= n <= len(_DIARY_VARIANTS):
        raise EmocircError(f"diary_voices({n}): expected 1..{len(_DIARY_VARIANTS)} distinct diary voices")
    return [(f"en+{variant}", gender) for variant, gender in _DIARY_VARIANTS[:n]]


#: The voice of a single synthetic diary (the first diary person's).
DIARY_VOICE = diary_voices(1)[0][0]


def espeak_synthesizer(voice: str = DIARY_VOICE, gender: str = "F", seed: int = 0) -> Synthesizer:
    """One diary speaker in eSpeak NG, speaking :data:`DIARY_LINES` with a given emotion.

    The speaker's habits are drawn once from ``seed``
    (:func:`emocirc.synthesis_rules.random_speaker`); each utterance renders the
    emotion with the synthetic corpora's rule table
    (:func:`emocirc.synth.synthesize_utterance`).

    Examples
    --------
    >>> speak = espeak_synthesizer()
    >>> wave = speak("sadness", np.random.default_rng(0))
    >>> wave.dtype.name, 1.0 < len(wave) / SAMPLE_RATE < 8.0
    ('float32', True)
    """
    from emocirc.synth import synthesize_utterance
    from emocirc.synthesis_rules import random_speaker

    speaker = random_speaker("diary", gender, voice, np.random.default_rng(seed))

    def speak(label: str, rng: np.random.Generator) -> np.ndarray:
        text = DIARY_LINES[int(rng.integers(len(DIARY_LINES)))]
        wave, _ = synthesize_utterance(text, label, speaker, rng)
        return wave

    speak.__name__ = f"espeak {voice}"
    return speak


def make_diary(
    out: str | os.PathLike[str],
    days: int = 14,
    recordings_per_day: int = 3,
    recording_s: float = 60.0,
    seed: int = 0,
    start_date: str = "2024-03-04",
    start_mix: Mapping[str, float] | None = None,
    end_mix: Mapping[str, float] | None = None,
    synthesizer: Synthesizer | None = None,
    overwrite: bool = False,
    change_day: int | None = None,
    speaker: str = "",
) -> Path:
    """Write a synthetic mood diary: ``days`` days of short recordings whose emotions drift.

    Each recording is ``recording_s`` seconds of utterances, each with an
    emotion drawn from that day's mix (:func:`day_mix` between ``start_mix``
    and ``end_mix``, or a step from one to the other on ``change_day``),
    separated by pauses of 0.3-1.2 s of faint noise.  The
    folder holds ``<YYYY-MM-DD>/<HHMM>.wav`` files, ``manifest.csv``
    (``path,day,time,speaker,duration``), ``segments.csv`` (every utterance with
    its label and true valence/arousal, for checking the map) and the
    synthetic-data marker of :mod:`emocirc.provenance`.  The folder is
    written as a whole or not at all.

    Parameters
    ----------
    out:
        Folder to create.
    days, recordings_per_day, recording_s:
        Size of the diary.
    seed:
        Seed of every random choice: the same seed gives the same files.
    start_date:
        First day, ``YYYY-MM-DD``.
    start_mix, end_mix:
        Emotion probabilities of the first and last day (default
        :data:`HEALTHY_MIX` and :data:`DIMINISHED_MIX`).
    synthesizer:
        Utterance generator (default :func:`espeak_synthesizer`; tests use
        :func:`tone_synthesizer`).
    overwrite:
        Replace an existing folder.
    change_day:
        Day index (0-based) from which the mix is ``end_mix``; before it,
        ``start_mix``.  None: a linear drift over the whole diary.  A stable
        person has ``end_mix`` equal to ``start_mix``.
    speaker:
        Name written in the manifest's ``speaker`` column.

    Examples
    --------
    >>> import tempfile
    >>> root = make_diary(tempfile.mkdtemp() + "/d", days=2, recordings_per_day=1,
    ...                   recording_s=4, synthesizer=tone_synthesizer)
    >>> pd.read_csv(root / "manifest.csv")[["path", "day"]].values.tolist()
    [['2024-03-04/0900.wav', '2024-03-04'], ['2024-03-05/0900.wav', '2024-03-05']]
    """
    out = Path(out)
    if days < 1 or recordings_per_day < 1:
        raise EmocircError(
            f"diary size: expected days >= 1 and recordings_per_day >= 1, got {days}, {recordings_per_day}"
        )
    if recording_s < 1.0:
        raise EmocircError(f"recording_s={recording_s}: expected at least 1 second")
    if change_day is not None and not 0 <= change_day < days:
        raise EmocircError(f"change_day={change_day}: expected a day index 0..{days - 1}")
    if out.exists() and not overwrite:
        raise EmocircError(f"{out} already exists: expected a new folder (or pass overwrite)")
    first = _parse_day(start_date, "start_date")
    start_mix = dict(HEALTHY_MIX if start_mix is None else start_mix)
    end_mix = dict(DIMINISHED_MIX if end_mix is None else end_mix)
    for lab in [*start_mix, *end_mix]:
        _position(lab)
    synthesizer = synthesizer or espeak_synthesizer(seed=seed)
    rng = np.random.default_rng(seed)
    times = _recording_times(recordings_per_day)
    n_total = int(round(recording_s * SAMPLE_RATE))

    manifest, segments = [], []
    with atomic_dir(out) as tmp:
        for d in range(days):
            day = (first + _dt.timedelta(days=d)).isoformat()
            if change_day is None:
                mix = day_mix(d, days, start_mix, end_mix)
            else:
                mix = day_mix(int(d >= change_day), 2, start_mix, end_mix)
            labels = np.array(list(mix))
            probs = np.array([mix[lab] for lab in labels])
            for hhmm in times:
                signal = np.zeros(n_total, dtype=np.float32)
                pos = int(rng.uniform(0.2, 0.8) * SAMPLE_RATE)
                rel = f"{day}/{hhmm.replace(':', '')}.wav"
                while True:
                    label = str(rng.choice(labels, p=probs))
                    utt = synthesizer(label, rng)
                    if pos + len(utt) > n_total:
                        break
                    signal[pos : pos + len(utt)] = utt
                    valence, arousal = _position(label)
                    segments.append(
                        {
                            "path": rel,
                            "day": day,
                            "start": pos / SAMPLE_RATE,
                            "end": (pos + len(utt)) / SAMPLE_RATE,
                            "label": label,
                            "valence": valence,
                            "arousal": arousal,
                        }
                    )
                    pos += len(utt) + int(rng.uniform(0.3, 1.2) * SAMPLE_RATE)
                # Faint noise floor: real diaries are never digitally silent.
                signal += rng.normal(0.0, 1e-3, n_total).astype(np.float32)
                np.clip(signal, -1.0, 1.0, out=signal)
                write_wav(tmp / rel, signal)
                manifest.append(
                    {"path": rel, "day": day, "time": hhmm, "speaker": speaker, "duration": recording_s}
                )
        pd.DataFrame(manifest).to_csv(tmp / "manifest.csv", index=False)
        pd.DataFrame(segments, columns=["path", "day", "start", "end", "label", "valence", "arousal"]).to_csv(
            tmp / "segments.csv", index=False
        )
        # The provenance marker: banners then say this diary is synthetic speech.
        (tmp / SYNTHETIC_MARKER).write_text(
            json.dumps(
                {
                    "kind": "synthetic mood diary",
                    "seed": seed,
                    "days": days,
                    "recordings_per_day": recordings_per_day,
                    "recording_s": recording_s,
                    "start_mix": start_mix,
                    "end_mix": end_mix,
                    "change_day": change_day,
                    "speaker": speaker,
                    "synthesizer": getattr(synthesizer, "__name__", type(synthesizer).__name__),
                },
                indent=2,
            )
            + "\n"
        )
    return out


def load_diary(source: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a diary: one row per recording with its absolute ``path``, ``day``, ``time`` and ``speaker``.

    ``source`` is a folder with ``manifest.csv`` (as :func:`make_diary`
    writes), a folder laid out as ``<YYYY-MM-DD>/<HHMM>*.wav``, or a CSV file
    with columns ``path`` and ``day`` (optional ``time`` as ``HH:MM`` and
    ``speaker``; relative paths are relative to the CSV's folder).  A file
    name that starts with four digits gives the time of day (``0930_walk.wav``
    is 09:30); otherwise the time is unknown (``""``).  Several recordings a
    day and missing days are fine.  Rows are sorted by speaker, day, time,
    path.  ``df.attrs["root"]`` is the folder; ``df.attrs["segments"]`` is
    the path of ``segments.csv`` when the diary has one;
    ``df.attrs["ignored"]`` lists sub-folders that are not days and were
    skipped (their names do not start with a digit).

    A sub-folder or CSV day that starts like a date but is not one
    (``2024-13-01``, ``03-04-2024``), or a time that is not a time, is an
    error: a recording is never dropped silently.

    Examples
    --------
    >>> import tempfile
    >>> root = make_diary(tempfile.mkdtemp() + "/d", days=2, recordings_per_day=2,
    ...                   recording_s=3, synthesizer=tone_synthesizer)
    >>> diary = load_diary(root)
    >>> diary[["day", "time"]].values.tolist()
    [['2024-03-04', '09:00'], ['2024-03-04', '18:00'], ['2024-03-05', '09:00'], ['2024-03-05', '18:00']]
    """
    source = Path(source)
    if not source.exists():
        raise EmocircError(f"diary {source} does not exist: expected a folder or a CSV with path,day")
    ignored: list[str] = []
    if source.is_file():
        df, root = _read_manifest(source), source.parent
    elif (source / "manifest.csv").is_file():
        df, root = _read_manifest(source / "manifest.csv"), source
    else:
        root = source
        rows = []
        for sub in sorted(p for p in source.iterdir() if p.is_dir()):
            if not sub.name[:1].isdigit():
                ignored.append(sub.name)
                continue
            day = _parse_day(sub.name, str(sub)).isoformat()
            for wav in sorted(p for p in sub.iterdir() if p.suffix.lower() == ".wav"):
                rows.append({"path": str(wav), "day": day, "time": time_from_name(wav.name), "speaker": ""})
        if not rows:
            raise EmocircError(
                f"{source}: no recordings found; expected manifest.csv, a CSV with path,day, "
                "or sub-folders named YYYY-MM-DD holding .wav files"
            )
        df = pd.DataFrame(rows)
    if len(df) == 0:
        raise EmocircError(f"diary {source}: no recordings listed; expected at least one row path,day")
    df["path"] = [str((root / p).resolve()) if not Path(p).is_absolute() else str(p) for p in df["path"]]
    missing = [p for p in df["path"] if not Path(p).is_file()]
    if missing:
        raise EmocircError(f"diary {source}: recording {missing[0]} does not exist ({len(missing)} missing)")
    df = df.sort_values(["speaker", "day", "time", "path"], kind="stable").reset_index(drop=True)
    df["recording"] = [
        f"{sp + '/' if sp else ''}{d}/{Path(p).stem}"
        for sp, d, p in zip(df["speaker"], df["day"], df["path"], strict=True)
    ]
    df = df[["recording", "path", "day", "time", "speaker"]]
    df.attrs["root"] = str(root.resolve())
    seg = root / "segments.csv"
    df.attrs["segments"] = str(seg.resolve()) if seg.is_file() and (root / "manifest.csv").is_file() else None
    df.attrs["ignored"] = ignored
    return df


def time_from_name(name: str) -> str:
    """Time of day ``HH:MM`` from a file name starting with ``HHMM``; ``""`` when it starts otherwise.

    Examples
    --------
    >>> time_from_name("0930_walk.wav"), time_from_name("walk.wav")
    ('09:30', '')
    """
    head = Path(name).name[:4]
    if len(head) < 4 or not head.isdigit():
        return ""
    return _parse_time(f"{head[:2]}:{head[2:]}", name)


# --------------------------------------------------------------------------- windows


def active_windows(
    signal: np.ndarray,
    bounds: Sequence[tuple[int, int]] | np.ndarray,
    threshold_db: float = -35.0,
    min_active: float = 0.25,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Which windows (sample ``bounds``) hold enough voice by the energy gate: a boolean mask.

    The fallback detector of :mod:`emocirc.vad` (:func:`emocirc.vad.energy_segments`,
    ``threshold_db``); a window is kept when at least ``min_active`` of it is
    active.  :func:`embed_windows` uses :func:`detect_speech` instead, which
    prefers Silero VAD.

    Examples
    --------
    >>> sr = 1000
    >>> x = np.zeros(4 * sr, dtype=np.float32)
    >>> x[2 * sr:] = np.sin(np.arange(2 * sr) * 0.3)
    >>> active_windows(x, [(0, 1000), (1000, 2000), (2000, 3000), (3000, 4000)], sample_rate=sr).tolist()
    [False, False, True, True]
    """
    from emocirc.vad import energy_segments, speech_fraction

    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    segments = energy_segments(signal, sample_rate, threshold_db=threshold_db)
    return speech_fraction(segments, bounds / sample_rate) >= min_active


def detect_speech(diary: pd.DataFrame, vad: str = "auto") -> pd.DataFrame:
    """Speech in every recording of a diary, by voice activity detection (:mod:`emocirc.vad`).

    Returns one row per recording: ``recording``, ``path``, ``day``,
    ``time``, ``speaker``, ``duration_s``, ``speech_s`` (seconds of speech),
    ``vad`` (the detector used: ``silero`` or ``energy``) and ``segments``
    (an ``(n, 2)`` array of speech segments in seconds, not written to CSV).

    Examples
    --------
    >>> import tempfile
    >>> root = make_diary(tempfile.mkdtemp() + "/d", days=1, recordings_per_day=1,
    ...                   recording_s=4, synthesizer=tone_synthesizer)
    >>> speech = detect_speech(load_diary(root), vad="energy")
    >>> speech[["day", "vad"]].values.tolist(), 0 < float(speech["speech_s"].iloc[0]) <= 4
    ([['2024-03-04', 'energy']], True)
    """
    from emocirc.vad import resolve_vad, speech_segments_many

    method = resolve_vad(vad)
    rows = []
    records = list(diary.itertuples(index=False))
    for first in range(0, len(records), 32):  # 32 recordings in memory at a time, run as one batch
        batch = records[first : first + 32]
        signals = [load_audio(rec.path) for rec in batch]
        found = speech_segments_many(signals, SAMPLE_RATE, method=method)
        rows += [
            _speech_row(rec, len(x), seg, method) for rec, x, seg in zip(batch, signals, found, strict=True)
        ]
    columns = ["recording", "path", "day", "time", "speaker", "duration_s", "speech_s", "vad", "segments"]
    return pd.DataFrame(rows, columns=columns)


def _speech_row(rec: Any, n_samples: int, segments: np.ndarray, method: str) -> dict[str, Any]:
    from emocirc.vad import speech_seconds

    return {
        "recording": rec.recording,
        "path": rec.path,
        "day": rec.day,
        "time": rec.time,
        "speaker": getattr(rec, "speaker", ""),
        "duration_s": n_samples / SAMPLE_RATE,
        "speech_s": speech_seconds(segments),
        "vad": method,
        "segments": segments,
    }


def embed_windows(
    diary: pd.DataFrame,
    backbone: Any,
    window_s: float = 3.0,
    hop_s: float = 1.5,
    layers: Sequence[int] | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    vad: str = "auto",
    min_active: float = 0.25,
    cache: bool = True,
    torch_threads: int | None = 1,
    speech: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Cut every recording of a diary into windows and embed the windows that hold speech.

    Windows come from :func:`emocirc.features.extract_windows` (every
    ``hop_s`` seconds, ``window_s`` long, the last one flush with the end;
    each window embedded on its own and mean-pooled, cached); a window is
    kept when at least ``min_active`` of it is speech by the voice activity
    detector ``vad`` (:func:`detect_speech`; pass ``speech``, its result,
    to reuse it).  ``precision`` defaults to fp32 so that a diary maps the
    same on every machine.  Torch runs with ``torch_threads`` intra-op
    threads (None: leave the setting alone).

    Returns
    -------
    windows:
        One row per kept window: ``recording``, ``path``, ``day``, ``time``,
        ``speaker``, ``start``, ``end`` (seconds), ``speech`` (its speech share).
        ``windows.attrs["vad"]`` names the detector.
    embeddings:
        float32 array ``(n_windows, len(layers), hidden_size)``.
    """
    from emocirc.backbones import Backbone, load_backbone
    from emocirc.features import extract_windows
    from emocirc.vad import speech_fraction

    bb = backbone if isinstance(backbone, Backbone) else load_backbone(backbone, device=device)
    layers = list(range(bb.num_layers + 1)) if layers is None else [int(x) for x in layers]
    bad = [x for x in layers if not 0 <= x <= bb.num_layers]
    if bad:
        raise EmocircError(f"layers {bad}: expected indices 0..{bb.num_layers} of backbone {bb.name}")
    if speech is None:
        speech = detect_speech(diary, vad=vad)
    if "segments" not in speech:
        raise EmocircError("speech: expected the table of detect_speech with its 'segments' column")
    segments_of = dict(zip(speech["recording"], speech["segments"], strict=True))
    columns = ["recording", "path", "day", "time", "speaker", "start", "end", "speech"]
    rows, embs = [], []
    for rec in diary.itertuples(index=False):
        if rec.recording not in segments_of:
            raise EmocircError(f"recording {rec.recording}: no speech detection passed for it")
        segments = segments_of[rec.recording]
        if len(segments) == 0:
            continue  # no speech at all: nothing to embed
        with _torch_threads(torch_threads):
            feats = extract_windows(
                rec.path,
                bb,
                window=window_s,
                hop=hop_s,
                layers=layers,
                device=device,
                precision=precision,
                cache=cache,
            )
        share = speech_fraction(segments, np.stack([feats.starts, feats.ends], axis=1))
        keep = share >= min_active
        embs.append(feats.embeddings[keep])
        for start, end, frac in zip(feats.starts[keep], feats.ends[keep], share[keep], strict=True):
            rows.append(
                {
                    "recording": rec.recording,
                    "path": rec.path,
                    "day": rec.day,
                    "time": rec.time,
                    "speaker": getattr(rec, "speaker", ""),
                    "start": float(start),
                    "end": float(end),
                    "speech": float(frac),
                }
            )
    windows = pd.DataFrame(rows, columns=columns)
    dim = bb.hidden_size
    embeddings = (
        np.concatenate(embs).astype(np.float32) if embs else np.zeros((0, len(layers), dim), np.float32)
    )
    windows.attrs["layers"] = layers
    windows.attrs["window_s"] = float(window_s)
    windows.attrs["hop_s"] = float(hop_s)
    windows.attrs["backbone"] = bb.fingerprint
    windows.attrs["vad"] = str(speech["vad"].iloc[0]) if len(speech) else vad
    return windows, embeddings


def true_positions(windows: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Ground-truth valence/arousal of each window: overlap-weighted mean of its utterances.

    ``segments`` has ``path`` (matching ``windows.path`` or its end),
    ``start``, ``end``, ``valence``, ``arousal``.  Windows overlapping no
    utterance get NaN.

    Examples
    --------
    >>> w = pd.DataFrame({"path": ["a.wav"], "start": [0.0], "end": [4.0]})
    >>> s = pd.DataFrame({"path": ["a.wav", "a.wav"], "start": [0.0, 2.0], "end": [1.0, 5.0],
    ...                   "valence": [1.0, -1.0], "arousal": [0.0, 0.3]})
    >>> true_positions(w, s).round(2).values.tolist()
    [[-0.33, 0.2]]
    """
    seg_by_path: dict[str, pd.DataFrame] = {}
    for path, group in segments.groupby("path"):
        seg_by_path[str(path)] = group
    out = np.full((len(windows), 2), np.nan)
    for i, (path, start, end) in enumerate(
        zip(windows["path"], windows["start"], windows["end"], strict=True)
    ):
        group = seg_by_path.get(str(path))
        if group is None:
            group = next((g for p, g in seg_by_path.items() if str(path).endswith("/" + p)), None)
        if group is None:
            continue
        overlap = np.clip(np.minimum(group["end"], end) - np.maximum(group["start"], start), 0, None)
        weight = overlap.to_numpy(float)
        if weight.sum() > 0:
            out[i] = weight @ group[["valence", "arousal"]].to_numpy(float) / weight.sum()
    return pd.DataFrame(out, columns=["valence", "arousal"], index=windows.index)


# --------------------------------------------------------------------------- mapping


def corpus_targets(labels: Sequence[str], valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    """Valence/arousal targets in ``[-1, 1]`` for a labelled corpus, shape ``(n, 2)``.

    Ratings on IEMOCAP's 1-5 scale are used where present
    (:func:`emocirc.russell.from_rating`); elsewhere the label's position in
    :data:`emocirc.russell.EMOTION_POSITIONS`, the project's one table of
    emotion positions (neutral at the origin).

    Examples
    --------
    >>> corpus_targets(["anger", "neutral"], np.array([1.0, np.nan]), np.array([5.0, np.nan])).tolist()
    [[-1.0, 1.0], [0.0, 0.0]]
    """
    valence = np.asarray(valence, dtype=float)
    arousal = np.asarray(arousal, dtype=float)
    rated = np.isfinite(valence) & np.isfinite(arousal)
    out = np.empty((len(labels), 2))
    out[rated, 0] = from_rating(valence[rated])
    out[rated, 1] = from_rating(arousal[rated])
    for i in np.flatnonzero(~rated):
        out[i] = _position(str(labels[i]))
    return out


def fit_va_mapping(
    embeddings: np.ndarray,
    labels: Sequence[str],
    valence: np.ndarray | None = None,
    arousal: np.ndarray | None = None,
    method: str = "ridge",
    n_components: int | float = 0.95,
    alpha: float = 10.0,
    seed: int = 0,
) -> Any:
    """Fit a mapping from embeddings ``(n, D)`` of a labelled corpus to the valence-arousal plane.

    Parameters
    ----------
    embeddings:
        One layer's utterance embeddings.
    labels:
        Canonical emotion labels.
    valence, arousal:
        Ratings on IEMOCAP's 1-5 scale (NaN where none); see
        :func:`corpus_targets`.
    method:
        ``"ridge"``: standardise, PCA (``n_components``), then
        :func:`emocirc.circumplex.ridge_valence_arousal` to the targets
        (ratings where present, else label positions).  ``"procrustes"``:
        PCA to two dimensions, then
        :class:`emocirc.circumplex.CircumplexMapping` of the emotion
        centroids onto the NRC VAD positions (labels only; ratings unused).
    n_components, alpha:
        PCA size and ridge penalty of ``"ridge"``.
    seed:
        Seed of the PCA solver.

    Returns
    -------
    A fitted scikit-learn pipeline; ``predict`` (ridge) or ``transform``
    (procrustes) gives ``(n, 2)`` valence/arousal in ``[-1, 1]`` units;
    :func:`map_diary` accepts either.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(["anger", "sadness", "happiness", "neutral"], 50)
    >>> centres = np.array([EMOTION_POSITIONS[lab] for lab in labels])
    >>> X = np.hstack([centres, np.zeros((200, 6))]) @ rng.normal(size=(8, 8)) + rng.normal(0, 0.1, (200, 8))
    >>> m = fit_va_mapping(X, labels)
    >>> float(np.corrcoef(m.predict(X)[:, 1], centres[:, 1])[0, 1]) > 0.9
    True
    """
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from emocirc.circumplex import CircumplexMapping, EmbeddingPCA, ridge_valence_arousal

    X = np.asarray(embeddings, dtype=np.float64)
    labels = [str(lab) for lab in labels]
    if X.ndim != 2 or len(labels) != len(X):
        raise EmocircError(
            f"mapping: expected embeddings (n, D) and n labels, got {X.shape} and {len(labels)} labels"
        )
    if len(X) < 3:
        raise EmocircError(f"mapping: expected at least 3 labelled utterances, got {len(X)}")
    if method == "ridge":
        n = len(X)
        valence = np.full(n, np.nan) if valence is None else valence
        arousal = np.full(n, np.nan) if arousal is None else arousal
        y = corpus_targets(labels, valence, arousal)
        if isinstance(n_components, int):
            n_components = min(n_components, X.shape[1], n - 1)
        model = make_pipeline(
            StandardScaler(), PCA(n_components=n_components, random_state=seed), ridge_valence_arousal(alpha)
        )
        return model.fit(X, y)
    if method == "procrustes":
        reference = {lab: EMOTION_POSITIONS[lab] for lab in set(labels) if lab in EMOTION_POSITIONS}
        model = make_pipeline(
            EmbeddingPCA(n_components=2, standardize=True), CircumplexMapping(reference=reference)
        )
        return model.fit(X, labels)
    raise EmocircError(f"mapping method {method!r}: expected 'ridge' or 'procrustes'")


def embed_corpus(
    corpus: pd.DataFrame,
    backbone: Any,
    layers: Sequence[int],
    device: str = "cpu",
    precision: str = "fp32",
    cache: bool = True,
    torch_threads: int | None = 1,
) -> np.ndarray:
    """Embed every utterance of a corpus table as :func:`embed_windows` embeds a window.

    A thin call of :func:`emocirc.features.extract_features` with the same
    precision, so that the mapping's training input and the diary's windows
    are computed alike.  Returns float32 ``(n_utterances, len(layers), hidden_size)``.
    """
    from emocirc.features import extract_features

    _require(corpus, ("path",), "corpus")
    if len(corpus) == 0:
        raise EmocircError("corpus: expected at least one utterance to fit the mapping on")
    with _torch_threads(torch_threads):
        feats = extract_features(
            corpus, backbone, layers=list(layers), device=device, precision=precision, cache=cache
        )
    return feats.embeddings.astype(np.float32, copy=False)


def fit_corpus_mapping(
    corpus: pd.DataFrame,
    backbone: Any,
    layer: int,
    method: str = "ridge",
    device: str = "cpu",
    seed: int = 0,
    **kwargs: Any,
) -> Any:
    """Embed a labelled corpus (``label``, and ``valence``/``arousal`` if rated) and fit :func:`fit_va_mapping`.

    ``corpus`` is a table from :func:`emocirc.corpora.load_corpus`; the
    synthetic IEMOCAP layout has ratings, EMODB only labels.
    """
    _require(corpus, ("path", "label"), "corpus")
    emb = embed_corpus(corpus, backbone, [layer], device=device)[:, 0, :]
    n = len(corpus)
    valence = corpus["valence"].to_numpy(float) if "valence" in corpus else np.full(n, np.nan)
    arousal = corpus["arousal"].to_numpy(float) if "arousal" in corpus else np.full(n, np.nan)
    return fit_va_mapping(
        emb, corpus["label"].astype(str).tolist(), valence, arousal, method=method, seed=seed, **kwargs
    )


def features_mapping(
    features: str | os.PathLike[str] | Mapping[str, np.ndarray],
    layer: int | None = None,
    method: str = "ridge",
    seed: int = 0,
    **kwargs: Any,
) -> tuple[Any, int]:
    """Fit :func:`fit_va_mapping` on a features file written by ``emocirc extract``.

    Returns the mapping and the layer it was fitted on (the file's last
    layer by default).  The diary must then be embedded with the same
    backbone and layer.
    """
    from emocirc.circumplex import feature_arrays, select_layer

    arrays, source = feature_arrays(features)
    if "labels" not in arrays:
        raise EmocircError(f"{source}: expected a 'labels' array to fit the valence-arousal mapping on")
    X, chosen = select_layer(arrays, layer, source)
    if chosen is None:
        raise EmocircError(
            f"{source}: 2-D embeddings with no layer named: pass layer= (the layer the diary is to be embedded with)"
        )
    n = len(X)
    valence = arrays["valence"].astype(float) if "valence" in arrays else np.full(n, np.nan)
    arousal = arrays["arousal"].astype(float) if "arousal" in arrays else np.full(n, np.nan)
    labels = [str(lab) for lab in arrays["labels"]]
    mapping = fit_va_mapping(X, labels, valence, arousal, method=method, seed=seed, **kwargs)
    return mapping, int(chosen)


# --------------------------------------------------------------------------- density and summaries


def circumplex_density(
    valence: np.ndarray,
    arousal: np.ndarray,
    grid_size: int = 50,
    bandwidth: float = 0.15,
    method: str = "kde",
) -> tuple[np.ndarray, np.ndarray]:
    """Density of points over the circumplex square ``[-1, 1]^2``.

    Parameters
    ----------
    valence, arousal:
        Coordinates of the points (NaN points are ignored).
    grid_size:
        Cells per axis.
    bandwidth:
        Standard deviation of the Gaussian kernel (``method="kde"``); a fixed
        bandwidth keeps days comparable, unlike a per-day rule of thumb.
    method:
        ``"kde"`` (Gaussian kernel density) or ``"hist"`` (2-D histogram).

    Returns
    -------
    grid:
        Cell centres, shape ``(grid_size,)``, the same on both axes.
    density:
        Shape ``(grid_size, grid_size)``, indexed ``[arousal, valence]`` (so
        ``imshow(density, origin="lower", extent=(-1, 1, -1, 1))`` draws it),
        integrating to 1 over the square; all zeros when there are no points.

    Examples
    --------
    >>> grid, dens = circumplex_density(np.array([0.6]), np.array([-0.3]), grid_size=4, bandwidth=0.2)
    >>> grid.tolist()
    [-0.75, -0.25, 0.25, 0.75]
    >>> [int(i) for i in np.unravel_index(dens.argmax(), dens.shape)]  # row: arousal, column: valence
    [1, 3]
    >>> round(float(dens.sum() * (2 / 4) ** 2), 6)
    1.0
    """
    if grid_size < 2:
        raise EmocircError(f"grid_size={grid_size}: expected at least 2")
    v = np.asarray(valence, dtype=float).ravel()
    a = np.asarray(arousal, dtype=float).ravel()
    if v.shape != a.shape:
        raise EmocircError(f"density: valence and arousal differ in length ({v.size} and {a.size})")
    ok = np.isfinite(v) & np.isfinite(a)
    v, a = v[ok], a[ok]
    edges = np.linspace(-1.0, 1.0, grid_size + 1)
    grid = (edges[:-1] + edges[1:]) / 2
    cell = (2.0 / grid_size) ** 2
    if v.size == 0:
        return grid, np.zeros((grid_size, grid_size))
    if method == "hist":
        counts, _, _ = np.histogram2d(np.clip(a, -1, 1), np.clip(v, -1, 1), bins=[edges, edges])
        dens = counts
    elif method == "kde":
        if not bandwidth > 0:
            raise EmocircError(f"bandwidth={bandwidth}: expected a positive kernel width")
        # Separable Gaussian kernel: (grid x points) per axis, then one product.
        kv = np.exp(-0.5 * ((grid[:, None] - v[None, :]) / bandwidth) ** 2)
        ka = np.exp(-0.5 * ((grid[:, None] - a[None, :]) / bandwidth) ** 2)
        dens = ka @ kv.T
    else:
        raise EmocircError(f"density method {method!r}: expected 'kde' or 'hist'")
    total = dens.sum() * cell
    return grid, dens / total if total > 0 else dens


def day_densities(
    windows: pd.DataFrame,
    grid_size: int = 50,
    bandwidth: float = 0.15,
    method: str = "kde",
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One :func:`circumplex_density` per day of ``windows`` (columns ``day``, ``valence``, ``arousal``).

    Returns the sorted days, the grid, and densities ``(n_days, grid_size, grid_size)``.

    Examples
    --------
    >>> w = pd.DataFrame({"day": ["d1", "d1", "d2"], "valence": [0.5, 0.6, -0.5],
    ...                   "arousal": [0.5, 0.4, -0.5]})
    >>> days, grid, dens = day_densities(w, grid_size=10)
    >>> days, dens.shape
    (['d1', 'd2'], (2, 10, 10))
    """
    _require(windows, ("day", "valence", "arousal"), "windows")
    days = sorted(str(d) for d in windows["day"].unique())
    stack = []
    grid = np.zeros(grid_size)
    for day in days:
        sel = windows[windows["day"].astype(str) == day]
        grid, dens = circumplex_density(
            sel["valence"].to_numpy(), sel["arousal"].to_numpy(), grid_size, bandwidth, method
        )
        stack.append(dens)
    dens_all = np.stack(stack) if stack else np.zeros((0, grid_size, grid_size))
    return days, grid, dens_all


def day_summary(windows: pd.DataFrame) -> pd.DataFrame:
    """Summary numbers per day of windows placed on the circumplex.

    Columns: ``day``, ``n_windows``, ``valence_mean``, ``arousal_mean``,
    ``valence_sd``, ``arousal_sd``, ``spread`` (root-mean-square distance of
    the windows from the day's centre: how varied the emotional tone is),
    ``intensity`` (mean distance from the origin: how far from neutral), and
    ``low_low`` (share of windows with negative valence and negative
    arousal, the sad/bored quadrant).

    Examples
    --------
    >>> w = pd.DataFrame({"day": ["a", "a", "b", "b"], "valence": [0.2, 0.4, -0.6, -0.4],
    ...                   "arousal": [0.0, 0.0, -0.3, -0.5]})
    >>> s = day_summary(w)
    >>> s[["day", "valence_mean", "spread", "low_low"]].round(3).values.tolist()
    [['a', 0.3, 0.1, 0.0], ['b', -0.5, 0.141, 1.0]]
    """
    _require(windows, ("day", "valence", "arousal"), "windows")
    rows = []
    for day, group in windows.groupby(windows["day"].astype(str), sort=True):
        va = group[["valence", "arousal"]].to_numpy(float)
        va = va[np.isfinite(va).all(axis=1)]
        if len(va) == 0:
            rows.append({"day": day, "n_windows": 0})
            continue
        centre = va.mean(axis=0)
        rows.append(
            {
                "day": day,
                "n_windows": len(va),
                "valence_mean": centre[0],
                "arousal_mean": centre[1],
                "valence_sd": va[:, 0].std(),
                "arousal_sd": va[:, 1].std(),
                "spread": float(np.sqrt(np.mean(np.sum((va - centre) ** 2, axis=1)))),
                "intensity": float(np.mean(np.hypot(va[:, 0], va[:, 1]))),
                "low_low": float(np.mean((va[:, 0] < 0) & (va[:, 1] < 0))),
            }
        )
    columns = [
        "day",
        "n_windows",
        "valence_mean",
        "arousal_mean",
        "valence_sd",
        "arousal_sd",
        "spread",
        "intensity",
        "low_low",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


# --------------------------------------------------------------------------- the whole map


@dataclass
class DiaryMap:
    """A diary placed on the circumplex: windows, per-day densities, per-day summaries.

    Attributes
    ----------
    windows:
        One row per window: ``recording``, ``path``, ``day``, ``time``,
        ``start``, ``end``, ``valence``, ``arousal`` (estimated) and, for a
        diary with ground truth, ``true_valence``, ``true_arousal``.
    days:
        The days, sorted.
    grid:
        Cell centres of the density grid (both axes).
    density:
        ``(n_days, grid_size, grid_size)``, indexed ``[day, arousal, valence]``.
    summary:
        :func:`day_summary` of the estimated positions.
    params:
        How it was made (window, hop, bandwidth, layer, backbone, vad...).
    recordings:
        One row per recording of the diary (also those without speech):
        ``recording``, ``path``, ``day``, ``time``, ``speaker``,
        ``duration_s``, ``speech_s``, ``vad`` and, in memory only, the
        speech ``segments`` (:func:`detect_speech`; pass it as ``speech`` to
        map the diary again without detecting anew); None for a map built
        from windows alone.
    """

    windows: pd.DataFrame
    days: list[str]
    grid: np.ndarray
    density: np.ndarray
    summary: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    recordings: pd.DataFrame | None = None

    @classmethod
    def from_windows(
        cls,
        windows: pd.DataFrame,
        grid_size: int = 50,
        bandwidth: float = 0.15,
        method: str = "kde",
        params: Mapping[str, Any] | None = None,
        recordings: pd.DataFrame | None = None,
    ) -> DiaryMap:
        """Build the densities and summaries of windows that already have ``valence``/``arousal``.

        Examples
        --------
        >>> w = pd.DataFrame({"day": ["d1"] * 3 + ["d2"] * 3,
        ...                   "valence": [0.5, 0.6, 0.4, -0.5, -0.6, -0.4],
        ...                   "arousal": [0.1, 0.2, 0.0, -0.5, -0.4, -0.6]})
        >>> m = DiaryMap.from_windows(w, grid_size=20)
        >>> m.days, m.density.shape, m.summary["valence_mean"].round(2).tolist()
        (['d1', 'd2'], (2, 20, 20), [0.5, -0.5])
        """
        days, grid, dens = day_densities(windows, grid_size=grid_size, bandwidth=bandwidth, method=method)
        all_params = {"grid_size": grid_size, "bandwidth": bandwidth, "method": method, **dict(params or {})}
        if recordings is not None:
            recordings = recordings.reset_index(drop=True)
        return cls(
            windows.reset_index(drop=True), days, grid, dens, day_summary(windows), all_params, recordings
        )

    def truth_summary(self) -> pd.DataFrame | None:
        """:func:`day_summary` of the ground-truth positions, or None when the diary has none."""
        if "true_valence" not in self.windows:
            return None
        truth = self.windows[["day"]].assign(
            valence=self.windows["true_valence"], arousal=self.windows["true_arousal"]
        )
        return day_summary(truth)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``windows.csv``, ``summary.csv``, ``density.npz``, ``params.json`` and ``recordings.csv`` (atomically, as a whole)."""
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            self.windows.to_csv(tmp / "windows.csv", index=False)
            if self.recordings is not None:
                self.recordings.drop(columns=["segments"], errors="ignore").to_csv(
                    tmp / "recordings.csv", index=False
                )
            self.summary.to_csv(tmp / "summary.csv", index=False)
            with open(tmp / "density.npz", "wb") as fh:
                np.savez(fh, days=np.array(self.days, dtype=str), grid=self.grid, density=self.density)
            (tmp / "params.json").write_text(json.dumps(self.params, indent=2, default=str) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> DiaryMap:
        """Read a map written by :meth:`save`."""
        directory = Path(directory)
        needed = ("windows.csv", "summary.csv", "density.npz", "params.json")
        missing = [n for n in needed if not (directory / n).is_file()]
        if missing:
            raise EmocircError(f"{directory}: not a diary map (missing {', '.join(missing)})")
        with np.load(directory / "density.npz") as npz:
            days, grid, density = [str(d) for d in npz["days"]], npz["grid"], npz["density"]
        text = {"day": str, "time": str, "speaker": str}
        windows = pd.read_csv(directory / "windows.csv", dtype=text, keep_default_na=False, na_values=[""])
        for col in ("time", "speaker"):
            windows[col] = windows[col].fillna("").astype(str) if col in windows else ""
        summary = pd.read_csv(directory / "summary.csv", dtype={"day": str})
        params = json.loads((directory / "params.json").read_text())
        recordings = None
        if (directory / "recordings.csv").is_file():
            recordings = pd.read_csv(directory / "recordings.csv", dtype=text, keep_default_na=False)
            recordings[["speech_s", "duration_s"]] = recordings[["speech_s", "duration_s"]].astype(float)
        return cls(windows, days, grid, density, summary, params, recordings)


def drift_report(diary_map: DiaryMap, edge_days: int = 3) -> pd.DataFrame:
    """How well a map follows its diary's drift: one row each for valence and arousal.

    Columns: ``first`` and ``last`` (mean of the daily means over the first
    and last ``edge_days`` days), ``change`` (last - first), and, when the
    diary has ground truth, ``true_first``, ``true_last``, ``true_change``,
    ``day_correlation`` (Pearson r of the estimated and true daily means)
    and ``window_ccc`` (concordance of estimated and true window positions).

    Examples
    --------
    >>> w = pd.DataFrame({"day": ["a", "b", "c", "d"], "valence": [0.4, 0.2, 0.0, -0.2],
    ...                   "arousal": [0.0, 0.0, 0.1, 0.1]})
    >>> drift_report(DiaryMap.from_windows(w, grid_size=8), edge_days=2)["change"].round(2).tolist()
    [-0.4, 0.1]
    """
    from emocirc.circumplex import concordance_correlation

    if edge_days < 1:
        raise EmocircError(f"edge_days={edge_days}: expected at least 1")
    summary = diary_map.summary
    truth = diary_map.truth_summary()
    rows = []
    for dim in ("valence", "arousal"):
        est = summary[f"{dim}_mean"].to_numpy(float)
        row: dict[str, Any] = {"dimension": dim}
        row["first"], row["last"] = np.nanmean(est[:edge_days]), np.nanmean(est[-edge_days:])
        row["change"] = row["last"] - row["first"]
        if truth is not None:
            true = truth[f"{dim}_mean"].to_numpy(float)
            row["true_first"], row["true_last"] = np.nanmean(true[:edge_days]), np.nanmean(true[-edge_days:])
            row["true_change"] = row["true_last"] - row["true_first"]
            ok = np.isfinite(est) & np.isfinite(true)
            row["day_correlation"] = float(np.corrcoef(est[ok], true[ok])[0, 1]) if ok.sum() > 2 else np.nan
            w = diary_map.windows
            row["window_ccc"] = concordance_correlation(w[f"true_{dim}"], w[dim])
        rows.append(row)
    return pd.DataFrame(rows).set_index("dimension")


def map_diary(
    diary: pd.DataFrame | str | os.PathLike[str],
    backbone: Any,
    mapping: Any,
    layer: int,
    window_s: float = 3.0,
    hop_s: float = 1.5,
    grid_size: int = 50,
    bandwidth: float = 0.15,
    method: str = "kde",
    device: str = "cpu",
    precision: str = "fp32",
    vad: str = "auto",
    speech: pd.DataFrame | None = None,
) -> DiaryMap:
    """Place a diary on the circumplex: detect speech, window, embed, map, and estimate a density per day.

    Parameters
    ----------
    diary:
        A table from :func:`load_diary`, or what :func:`load_diary` reads.
    backbone:
        A :class:`~emocirc.backbones.Backbone` or a spec for
        :func:`~emocirc.backbones.load_backbone`.
    mapping:
        A fitted estimator whose ``predict`` (or ``transform``) turns
        embeddings of ``layer`` ``(n, D)`` into valence/arousal ``(n, 2)``,
        e.g. from :func:`fit_va_mapping`.
    layer:
        Hidden-state index the mapping was fitted on.
    window_s, hop_s:
        Window length and hop in seconds.
    grid_size, bandwidth, method:
        Passed to :func:`circumplex_density`.
    device, precision:
        Where and how to run the backbone (see :func:`embed_windows`).
    vad, speech:
        Voice activity detector (:func:`detect_speech`), or its result for
        this diary to reuse (maps of several window lengths share it).
    """
    if not isinstance(diary, pd.DataFrame):
        diary = load_diary(diary)
    if speech is None:
        speech = detect_speech(diary, vad=vad)
    windows, emb = embed_windows(
        diary,
        backbone,
        window_s=window_s,
        hop_s=hop_s,
        layers=[layer],
        device=device,
        precision=precision,
        speech=speech,
    )
    if len(windows) == 0:
        raise EmocircError(
            f"diary {diary.attrs.get('root', '')}: no window held speech "
            f"(voice activity detector: {windows.attrs['vad']}); expected speech recordings"
        )
    va = _apply_mapping(mapping, emb[:, 0, :])
    windows["valence"], windows["arousal"] = va[:, 0], va[:, 1]
    seg_path = diary.attrs.get("segments")
    if seg_path:
        segments = pd.read_csv(seg_path)
        root = Path(diary.attrs["root"])
        segments["path"] = [str((root / p).resolve()) for p in segments["path"]]
        truth = true_positions(windows, segments)
        windows["true_valence"], windows["true_arousal"] = truth["valence"], truth["arousal"]
    params = {
        "window_s": float(window_s),
        "hop_s": float(hop_s),
        "layer": int(layer),
        "backbone": windows.attrs.get("backbone"),
        "diary": diary.attrs.get("root"),
        "vad": windows.attrs["vad"],
    }
    return DiaryMap.from_windows(
        windows, grid_size=grid_size, bandwidth=bandwidth, method=method, params=params, recordings=speech
    )


# --------------------------------------------------------------------------- helpers


def _apply_mapping(mapping: Any, X: np.ndarray) -> np.ndarray:
    fn = getattr(mapping, "predict", None) or getattr(mapping, "transform", None)
    if fn is None:
        raise EmocircError(
            f"mapping {type(mapping).__name__}: expected an estimator with predict or transform"
        )
    va = np.asarray(fn(X), dtype=float)
    if va.ndim != 2 or va.shape[1] != 2:
        raise EmocircError(
            f"mapping {type(mapping).__name__}: expected (n, 2) valence/arousal, got {va.shape}"
        )
    return np.clip(va, -1.0, 1.0)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, then restore the setting.

    One short window is too little work to share between threads; on a busy
    machine, splitting it costs far more in synchronisation than it saves
    (measured: 35 ms with one thread against 250 ms with two, per 3 s window
    of the tiny backbone).
    """
    import torch

    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _position(label: str) -> tuple[float, float]:
    try:
        return EMOTION_POSITIONS[label]
    except KeyError:
        raise EmocircError(
            f"emotion {label!r} has no circumplex position: expected one of {', '.join(EMOTION_POSITIONS)}"
        ) from None


def _parse_day(text: str, what: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise EmocircError(f"{what}: day {text!r} is not a date; expected YYYY-MM-DD") from None


def _recording_times(n: int) -> list[str]:
    # Spread the day's recordings between 09:00 and 21:00.
    if n == 1:
        return ["09:00"]
    minutes = np.linspace(9 * 60, 21 * 60, n + 1)[:-1] if n > 2 else np.array([9 * 60, 18 * 60])
    return [f"{int(m) // 60:02d}:{int(m) % 60:02d}" for m in minutes]


def _read_manifest(csv: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise EmocircError(f"{csv}: cannot read the diary CSV ({err}); expected columns path,day") from err
    missing = [c for c in ("path", "day") if c not in df.columns]
    if missing:
        raise EmocircError(
            f"{csv}: missing column(s) {', '.join(missing)}; expected columns path,day[,time][,speaker]"
        )
    df["day"] = [_parse_day(d, f"{csv}").isoformat() for d in df["day"]]
    if "time" not in df.columns:
        df["time"] = ""
    df["time"] = [_parse_time(t, f"{csv}") if str(t).strip() else "" for t in df["time"]]
    if "speaker" not in df.columns:
        df["speaker"] = ""
    df["speaker"] = df["speaker"].astype(str).str.strip()
    return df[["path", "day", "time", "speaker"]].copy()


def _parse_time(text: str, what: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(:\d{2})?", str(text).strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise EmocircError(f"{what}: time {text!r} is not a time of day; expected HH:MM")
    return f"{int(match[1]):02d}:{match[2]}"


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise EmocircError(f"{what}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
