"""Miniature corpora in the exact on-disk layouts of EMODB, IEMOCAP and CSV manifests.

Each builder writes short synthetic clips (a tone whose pitch depends on the
emotion, plus a little seeded noise) and the decoys a real copy carries, so
a loader that reads too much or too little fails its tests:

- EMODB: sibling folders ``silb/``, ``labsilb/``, ``lablaut/`` (one of them
  with a wav named like an utterance), non-wav files and a macOS ``._*``
  resource fork inside ``wav/``, the release's text files at the top.
- IEMOCAP: ``Categorical/``, ``Attribute/``, ``Self-evaluation/`` sub-folders
  of ``EmoEvaluation/`` (holding summary-shaped lines that must not be read),
  ``._*`` resource forks, per-annotator lines in every block, transcription
  and dialog-level wav files.

Usage from any test::

    from tests.layouts import make_emodb, make_iemocap, make_manifest
    root = make_emodb(tmp_path / "emodb")
    root = make_iemocap(tmp_path / "iemocap", sessions=(1, 2), per_speaker=4)
    csv = make_manifest(tmp_path / "other")

Every builder is deterministic given its arguments (and ``seed``).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from emocirc.corpora.emodb import EMOTIONS, release_file_names
from emocirc.corpora.iemocap import CODES

SAMPLE_RATE = 16_000

#: A small EMODB subset: every speaker and every emotion, 22 utterances.
EMODB_SAMPLE: tuple[str, ...] = (
    "03a01Fa.wav",
    "03a01Nc.wav",
    "03a01Wa.wav",
    "03b10Ec.wav",
    "08a01Ab.wav",
    "08a01Lc.wav",
    "09a05Tb.wav",
    "09a01Ea.wav",
    "10a01Nb.wav",
    "10b01Lb.wav",
    "11a02Ec.wav",
    "11a01Aa.wav",
    "12a01Fb.wav",
    "12b01Ta.wav",
    "13a01Wb.wav",
    "13a02Ta.wav",
    "14a01Aa.wav",
    "14a02Fd.wav",
    "15a01Ea.wav",
    "15a01La.wav",
    "16a01Tb.wav",
    "16b10Wb.wav",
)

# Pitch per emotion (Hz): distinct so that features of the clips differ by class.
_PITCH = {
    "anger": 300.0,
    "happiness": 260.0,
    "sadness": 140.0,
    "neutral": 180.0,
    "fear": 340.0,
    "disgust": 120.0,
    "boredom": 110.0,
    "excitement": 280.0,
    "frustration": 220.0,
    "surprise": 320.0,
    "other": 200.0,
}

#: Default IEMOCAP emotion codes, cycled over the utterances of each speaker.
IEMOCAP_CODES: tuple[str, ...] = ("neu", "ang", "sad", "hap", "exc", "fru", "xxx", "sur", "fea", "dis", "oth")

# Summary-line V/A/D per code (1-5 scale), so tests can assert the parsed values.
_VAD = {
    "neu": (3.0, 2.5, 2.5),
    "ang": (1.5, 4.0, 4.0),
    "sad": (1.5, 2.0, 2.0),
    "hap": (4.0, 3.5, 3.0),
    "exc": (4.5, 4.5, 3.5),
    "fru": (2.0, 3.5, 3.5),
    "xxx": (2.5, 3.0, 3.0),
    "sur": (3.5, 4.0, 3.0),
    "fea": (1.5, 4.0, 2.0),
    "dis": (1.5, 3.0, 3.5),
    "oth": (3.0, 3.0, 3.0),
}


def write_clip(
    path: str | Path,
    label: str = "neutral",
    duration: float = 0.3,
    seed: int = 0,
    sr: int = SAMPLE_RATE,
    channels: int = 1,
    subtype: str = "PCM_16",
) -> Path:
    """Write a short tone (pitch by emotion label) with seeded noise; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    tone = 0.3 * np.sin(2 * np.pi * _PITCH.get(label, 200.0) * t) + 0.02 * rng.standard_normal(n)
    data = np.repeat(tone[:, None], channels, axis=1) if channels > 1 else tone
    # Encode in memory: soundfile's close() fsyncs, which makes hundreds of files slow.
    buffer = io.BytesIO()
    fmt = {".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower(), "WAV")
    sf.write(buffer, data.astype(np.float32), sr, subtype=subtype, format=fmt)
    path.write_bytes(buffer.getvalue())
    return path


def emodb_duration(index: int) -> float:
    """Duration (s) :func:`make_emodb` gives its ``index``-th file: 0.20 s to 0.24 s."""
    return 0.2 + 0.01 * (index % 5)


def make_emodb(
    root: str | Path,
    names: Iterable[str] | None = None,
    *,
    decoys: bool = True,
    seed: int = 0,
) -> Path:
    """Build an EMODB copy at ``root`` with ``wav/<name>`` for each name; return ``root``.

    ``names`` defaults to :data:`EMODB_SAMPLE`; pass ``"release"`` (or
    :func:`emocirc.corpora.emodb.release_file_names`) for all 535.  File
    ``i`` (in the given order) lasts :func:`emodb_duration` ``(i)`` seconds.
    """
    root = Path(root)
    if names == "release":
        names = release_file_names()
    names = list(EMODB_SAMPLE if names is None else names)
    wav = root / "wav"
    wav.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        letter = name[5] if len(name) > 5 else "N"
        write_clip(wav / name, EMOTIONS.get(letter, "neutral"), emodb_duration(i), seed=seed + i)
    if decoys:
        (root / "erkennung.txt").write_text("Satz\tErkennungsrate\n")
        (root / "erklaerung.txt").write_text("Erklaerung der Dateinamen\n")
        (wav / "readme.txt").write_text("not audio\n")
        (wav / "03a01Fa.wav.bak").write_bytes(b"RIFF")
        (wav / "._03a01Fa.wav").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
        stems = [n[:-4] for n in names[:3]]
        for folder, suffix in (("silb", ".silb"), ("labsilb", ".labsilb"), ("lablaut", "xx.lablaut")):
            (root / folder).mkdir(exist_ok=True)
            for stem in stems:
                (root / folder / f"{stem}{suffix}").write_text("0.000 a\n")
        # A wav beside wav/: a loader that searches recursively would count it.
        write_clip(root / "silb" / "03a01Wa.wav", "anger", 0.2, seed=seed)
    return root


def iemocap_utterances(
    sessions: Sequence[int] = (1, 2, 3, 4, 5),
    per_speaker: int = 6,
    codes: Sequence[str] = IEMOCAP_CODES,
) -> list[dict[str, object]]:
    """The utterances :func:`make_iemocap` writes, as the loader should report them.

    Each speaker's utterances alternate between an improvised and a scripted
    dialog of the session; emotion codes cycle through ``codes`` (shifted per
    speaker so every code reaches every session).
    """
    rows = []
    for s in sessions:
        dialogs = (f"Ses{s:02d}F_impro01", f"Ses{s:02d}M_script01_1")
        for g, gender in enumerate("FM"):
            offset = (2 * s + g) % len(codes)
            for k in range(per_speaker):
                dialog = dialogs[k % 2]
                index = k // 2
                code = codes[(offset + k) % len(codes)]
                start = round(1.5 + 4.0 * index + 2.0 * g, 4)
                duration = 0.2 + 0.01 * (k % 4)
                rows.append(
                    {
                        "id": f"{dialog}_{gender}{index:03d}",
                        "code": code,
                        "label": CODES[code],
                        "session": s,
                        "speaker": f"{s}{gender}",
                        "gender": gender,
                        "dialog": dialog,
                        "mode": "improvised" if "impro" in dialog else "scripted",
                        "valence": _VAD[code][0],
                        "arousal": _VAD[code][1],
                        "dominance": _VAD[code][2],
                        "start": start,
                        "end": round(start + duration + 1.0, 4),
                        "duration": duration,
                    }
                )
    return rows


def make_iemocap(
    root: str | Path,
    sessions: Sequence[int] = (1, 2, 3, 4, 5),
    per_speaker: int = 6,
    *,
    codes: Sequence[str] = IEMOCAP_CODES,
    missing: Iterable[str] = (),
    decoys: bool = True,
    seed: int = 0,
) -> Path:
    """Build an IEMOCAP copy at ``root``; return ``root``.

    The utterances are :func:`iemocap_utterances` ``(sessions, per_speaker,
    codes)``; the wavs of the utterance ids in ``missing`` are not written.
    """
    root = Path(root)
    missing = set(missing)
    rows = iemocap_utterances(sessions, per_speaker, codes)
    by_dialog: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_dialog.setdefault(str(row["dialog"]), []).append(row)
    counter = itertools.count(seed)
    for dialog, utterances in by_dialog.items():
        session = root / f"Session{int(utterances[0]['session'])}"
        emo = session / "dialog" / "EmoEvaluation"
        emo.mkdir(parents=True, exist_ok=True)
        utterances = sorted(utterances, key=lambda r: float(r["start"]))
        blocks = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for r in utterances:
            v, a, d = r["valence"], r["arousal"], r["dominance"]
            blocks.append(
                f"[{r['start']:.4f} - {r['end']:.4f}]\t{r['id']}\t{r['code']}\t[{v:.4f}, {a:.4f}, {d:.4f}]"
            )
            blocks.append(f"C-E2:\t{str(r['label']).capitalize()};\t()")
            blocks.append("C-E3:\tNeutral state;\t()")
            blocks.append(f"C-{r['gender']}:\tNeutral state;\t()")
            blocks.append(f"A-E3:\tval {int(v)}; act {int(a)}; dom  {int(d)};\t()")
            blocks.append(f"A-{r['gender']}:\tval 3; act 2; dom  2;\t()")
            blocks.append("")
        (emo / f"{dialog}.txt").write_text("\n".join(blocks) + "\n")
        for r in utterances:
            if r["id"] in missing:
                continue
            wav = session / "sentences" / "wav" / dialog / f"{r['id']}.wav"
            write_clip(wav, str(r["label"]), float(r["duration"]), seed=next(counter))
        if decoys:
            _iemocap_decoys(session, dialog, utterances)
    return root


def _iemocap_decoys(session: Path, dialog: str, utterances: list[dict[str, object]]) -> None:
    emo = session / "dialog" / "EmoEvaluation"
    first = utterances[0]
    # Summary-shaped lines where a loader must not look: they would add utterances.
    fake = f"[0.0000 - 1.0000]\t{dialog}_F999\tang\t[1.0000, 5.0000, 5.0000]\n"
    for folder, name in (
        ("Categorical", f"{dialog}_e1_cat.txt"),
        ("Attribute", f"{dialog}_e2_atr.txt"),
        ("Self-evaluation", f"{dialog}.txt"),
    ):
        (emo / folder).mkdir(exist_ok=True)
        (emo / folder / name).write_text(f"{first['id']} :Neutral state; ()\n{fake}")
    (emo / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X  \n" + fake.encode())
    transcriptions = session / "dialog" / "transcriptions"
    transcriptions.mkdir(parents=True, exist_ok=True)
    (transcriptions / f"{dialog}.txt").write_text(
        "".join(f"{r['id']} [{r['start']:08.4f}-{r['end']:08.4f}]: Excuse me.\n" for r in utterances)
    )
    write_clip(session / "dialog" / "wav" / f"{dialog}.wav", "neutral", 0.2)
    wav_dir = session / "sentences" / "wav" / dialog
    wav_dir.mkdir(parents=True, exist_ok=True)
    (wav_dir / f"._{first['id']}.wav").write_bytes(b"\x00\x05\x16\x07")


#: Default manifest rows: label spellings a hand-made CSV may use.
MANIFEST_ROWS: tuple[dict[str, object], ...] = tuple(
    {
        "path": f"clips/{speaker}/{speaker}_{k:02d}.wav",
        "label": label,
        "speaker": speaker,
        "valence": valence,
        "arousal": arousal,
    }
    for speaker in ("spk1", "spk2", "spk3")
    for k, (label, valence, arousal) in enumerate(
        [("angry", 1.5, 4.5), ("Happy", 4.5, 4.0), ("sad", 1.5, 1.5), ("neutral", 3.0, 2.0), ("fear", "", "")]
    )
)


def make_manifest(
    root: str | Path,
    rows: Iterable[dict[str, object]] | None = None,
    *,
    missing: Iterable[str] = (),
    name: str = "manifest.csv",
    seed: int = 0,
) -> Path:
    """Write ``root/<name>`` (default rows :data:`MANIFEST_ROWS`) and its clips; return the CSV path.

    Paths in the rows are relative to ``root``; those listed in ``missing``
    are not written.  Clip ``i`` lasts ``0.2 + 0.01 * (i % 5)`` seconds.
    """
    import csv

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = [dict(r) for r in (MANIFEST_ROWS if rows is None else rows)]
    missing = set(missing)
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    target = root / name
    with open(target, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    for i, row in enumerate(rows):
        rel = str(row["path"])
        if rel in missing:
            continue
        label = str(row.get("label", "neutral")).lower()
        write_clip(root / rel, label, 0.2 + 0.01 * (i % 5), seed=seed + i)
    return target
