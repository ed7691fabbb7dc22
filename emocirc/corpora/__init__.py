"""Corpus tables: one validated row per utterance, whatever the layout on disk.

:func:`load_corpus` reads EMODB or IEMOCAP exactly as downloaded, or a CSV
manifest for any other corpus, and returns a :class:`pandas.DataFrame` with
the columns in :data:`COLUMNS` (plus layout-specific ones: IEMOCAP's
``session``, ``dialog``, ``mode``, ``start``, ``end``; EMODB's ``sentence``,
``text``, ``version``).  ``df.attrs`` holds ``format``, ``root`` and
``problems``.

Nothing is lost silently.  Every audio file's header is checked when the
corpus is loaded (fast: nothing is decoded), and a file that is missing,
unreadable, empty, truncated, not audio or shorter than
:data:`emocirc.audio.MIN_DURATION_S` stops the load with one
:class:`~emocirc.errors.EmocircError` naming the files (all of them, up to
:data:`MAX_NAMED`), before any long work.  ``skip_bad=True`` (``--skip-bad``
on the command line, ``skip_bad`` in the book) leaves them out *explicitly*:
they are listed in ``df.attrs["skipped"]`` (``"<path>: <reason>"``), which
the features file, the fine-tuning run and the chapter's banner record.

Other problems are things a researcher must know about but that need not
stop the work (a duplicate summary line, a session without annotations):
they are reported in ``df.attrs["problems"]`` (and by ``emocirc corpus``,
which also lists every damaged file).  Pass ``strict=True`` to turn any
problem into an error.  A malformed file name, summary line or label is
always an error, since guessing would poison every figure downstream.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from emocirc.audio import MIN_DURATION_S, audio_info
from emocirc.corpora import emodb, iemocap, manifest
from emocirc.errors import EmocircError
from emocirc.labels import label_order, to_four_class

if TYPE_CHECKING:
    import datasets

#: Layouts :func:`load_corpus` reads.
FORMATS: tuple[str, ...] = ("emodb", "iemocap", "csv")

#: Columns every corpus table has, in this order.
COLUMNS: tuple[str, ...] = (
    "id",
    "path",
    "label",
    "speaker",
    "gender",
    "valence",
    "arousal",
    "dominance",
    "duration",
)

#: Extra columns per layout, after :data:`COLUMNS`.
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "emodb": ("sentence", "text", "version"),
    "iemocap": ("session", "dialog", "mode", "start", "end"),
    "csv": (),
}

#: Damaged files named in the error that stops a load; the rest are counted.
MAX_NAMED = 10

_READERS = {"emodb": emodb.read_table, "iemocap": iemocap.read_table, "csv": manifest.read_table}

__all__ = [
    "COLUMNS",
    "FORMATS",
    "describe",
    "detect_format",
    "damaged_files_message",
    "load_corpus",
    "summary",
    "to_hf_dataset",
]


def detect_format(root: str | os.PathLike[str]) -> str:
    """Tell which layout ``root`` has: ``"emodb"``, ``"iemocap"`` or ``"csv"``.

    A CSV file, or a folder holding ``manifest.csv``, is a manifest; a folder
    with ``Session{n}/dialog/EmoEvaluation`` is IEMOCAP; a folder whose
    ``wav/`` holds ``SSTTTEV.wav`` names is EMODB.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "Session1" / "dialog" / "EmoEvaluation").mkdir(parents=True)
    >>> detect_format(root)
    'iemocap'
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise EmocircError(f"{root}: corpus not found; expected an existing folder or CSV manifest")
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return "csv"
        raise EmocircError(f"{root}: not a corpus; expected a folder or a CSV manifest (.csv)")
    if (root / manifest.MANIFEST_NAME).is_file():
        return "csv"
    if iemocap.is_iemocap(root):
        return "iemocap"
    if emodb.is_emodb(root):
        return "emodb"
    raise EmocircError(
        f"{root}: cannot tell the corpus layout; expected EMODB (wav/03a01Fa.wav ...), "
        "IEMOCAP (Session1/dialog/EmoEvaluation/*.txt ...), a CSV manifest or a folder holding manifest.csv"
    )


def load_corpus(
    root: str | os.PathLike[str],
    format: str = "auto",
    four_class: bool = False,
    *,
    keep_other: bool = False,
    strict: bool = False,
    skip_bad: bool = False,
) -> pd.DataFrame:
    """Load a corpus as an utterance table.

    Parameters
    ----------
    root : str or path-like
        The corpus folder as downloaded (EMODB or IEMOCAP), a CSV manifest,
        or a folder holding ``manifest.csv``.
    format : {"auto", "emodb", "iemocap", "csv"}
        Layout; ``"auto"`` detects it (:func:`detect_format`).
    four_class : bool
        Keep only anger, happiness, sadness and neutral, with IEMOCAP's
        excitement merged into happiness.
    keep_other : bool
        Keep IEMOCAP's ``xxx``/``oth`` utterances (label ``"other"``), which
        are dropped by default.
    strict : bool
        Raise on the first problem instead of reporting it.
    skip_bad : bool
        Leave out missing, unreadable, empty, truncated, non-audio or too
        short files (listed in ``attrs["skipped"]`` and ``attrs["problems"]``)
        instead of raising an :class:`EmocircError` that names them.

    Returns
    -------
    pandas.DataFrame
        One row per utterance, sorted by ``id``, columns :data:`COLUMNS`
        plus the layout's extras; ``attrs`` ``format``, ``root``,
        ``problems``, ``skipped``.  Durations come from the file headers (no decoding).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, soundfile as sf
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> sf.write(root / "a.wav", np.zeros(8000), 16000)
    >>> _ = (root / "manifest.csv").write_text("path,label,speaker\\na.wav,sad,s1\\nb.wav,sad,s1\\n")
    >>> load_corpus(root)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: ...: 1 of 2 audio files cannot be used: .../b.wav: audio file not found ...
    >>> df = load_corpus(root, skip_bad=True)
    >>> df[["id", "label", "speaker", "duration"]].values.tolist()
    [['a', 'sadness', 's1', 0.5]]
    >>> df.attrs["skipped"]  # doctest: +ELLIPSIS
    ['.../b.wav: audio file not found (expected an existing audio file)']
    """
    root = Path(root).expanduser()
    if format == "auto":
        format = detect_format(root)
    elif format not in FORMATS:
        raise EmocircError(f"format={format!r}: expected one of auto, {', '.join(FORMATS)}")
    elif not root.exists():
        raise EmocircError(f"{root}: corpus not found; expected an existing folder or CSV manifest")
    table, problems = _READERS[format](root)
    problems = list(problems)

    if not keep_other:
        table = table[table["label"] != "other"]
    if four_class:
        mapped = table["label"].map(to_four_class)
        table = table.assign(label=mapped)[mapped.notna()]

    durations, damaged = _check_headers(table)
    if damaged and not skip_bad:
        raise EmocircError(damaged_files_message(root, [reason for _, reason in damaged], len(table)))
    problems.extend(f"{utterance}: {reason}; utterance left out" for utterance, reason in damaged)
    bad_ids = {utterance for utterance, _ in damaged}
    table = table.assign(duration=durations)[~table["id"].isin(bad_ids).to_numpy()]
    if strict and problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise EmocircError(f"{root}: {problems[0]}{more}")

    table = _tidy(table, format)
    table.attrs["format"] = format
    table.attrs["root"] = str(root.resolve())
    table.attrs["problems"] = problems
    table.attrs["skipped"] = [reason for _, reason in damaged]
    return table


def _check_headers(table: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Every file's duration from its header, and ``(id, reason)`` for each file that cannot be used."""
    durations = np.full(len(table), np.nan)
    damaged: list[tuple[str, str]] = []
    for i, (utterance, wav) in enumerate(zip(table["id"], table["path"], strict=True)):
        try:
            durations[i] = audio_info(wav).duration
        except EmocircError as err:
            damaged.append((utterance, str(err)))
            continue
        if durations[i] == 0:
            damaged.append((utterance, f"{wav}: audio file has zero samples"))
        elif durations[i] < MIN_DURATION_S:
            damaged.append(
                (utterance, f"{wav}: clip is {durations[i]:.3f} s long; expected at least {MIN_DURATION_S} s")
            )
    return durations, damaged


def damaged_files_message(root: str | os.PathLike[str], reasons: list[str], total: int) -> str:
    """The one-line error for damaged files: each named, up to :data:`MAX_NAMED`, then a count.

    Examples
    --------
    >>> damaged_files_message("/c", [f"/c/{i}.wav: empty" for i in range(12)], 100)  # doctest: +ELLIPSIS
    '/c: 12 of 100 audio files cannot be used: /c/0.wav: empty; ...; /c/9.wav: empty; and 2 more; fix or remove them, or pass --skip-bad (skip_bad=True) to leave them out and record them'
    """
    shown = "; ".join(" ".join(r.split()) for r in reasons[:MAX_NAMED])
    more = f"; and {len(reasons) - MAX_NAMED} more" if len(reasons) > MAX_NAMED else ""
    return (
        f"{root}: {len(reasons)} of {total} audio files cannot be used: {shown}{more}; "
        "fix or remove them, or pass --skip-bad (skip_bad=True) to leave them out and record them"
    )


def _tidy(table: pd.DataFrame, format: str) -> pd.DataFrame:
    """Order columns, fix dtypes and sort by id so a table never depends on the file system."""
    table = table.copy()
    for column in ("gender",):
        if column not in table:
            table[column] = ""
    for column in ("valence", "arousal", "dominance"):
        if column not in table:
            table[column] = np.nan
    columns = list(COLUMNS) + [c for c in EXTRA_COLUMNS[format] if c in table]
    table = table[columns]
    for column in ("id", "path", "label", "speaker", "gender"):
        table[column] = table[column].astype(str)
    for column in ("valence", "arousal", "dominance", "duration"):
        table[column] = table[column].astype(float)
    if "session" in table:
        table["session"] = table["session"].astype(int)
    return table.sort_values("id", kind="stable").reset_index(drop=True)


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Counts of a corpus table, as printed by ``emocirc corpus --json``.

    Returns a dict with exactly the keys ``format``, ``utterances``,
    ``labels`` (label -> count, canonical order), ``speakers`` (speaker ->
    count, sorted), ``duration_s`` and ``problems``.

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["sadness", "anger", "anger"], "speaker": ["03", "08", "03"],
    ...                    "duration": [1.0, 2.0, 0.5]})
    >>> summary(df)["labels"], summary(df)["duration_s"]
    ({'anger': 2, 'sadness': 1}, 3.5)
    """
    labels = df["label"].value_counts()
    speakers = df["speaker"].value_counts()
    return {
        "format": df.attrs.get("format", ""),
        "utterances": int(len(df)),
        "labels": {label: int(labels[label]) for label in label_order(labels.index)},
        "speakers": {speaker: int(speakers[speaker]) for speaker in sorted(speakers.index)},
        "duration_s": round(float(np.nansum(df["duration"].to_numpy(dtype=float))), 3),
        "problems": [str(p) for p in df.attrs.get("problems", [])],
    }


def describe(df: pd.DataFrame, max_problems: int = 20) -> str:
    """A human-readable report of a corpus table (what ``emocirc corpus`` prints).

    Examples
    --------
    >>> df = pd.DataFrame({"label": ["anger"], "speaker": ["03"], "duration": [3725.0]})
    >>> print(describe(df).splitlines()[1])
    utterances: 1, total duration 1:02:05
    """
    info = summary(df)
    root = df.attrs.get("root", "")
    lines = [f"corpus: {info['format'] or 'unknown format'}" + (f" at {root}" if root else "")]
    seconds = int(round(info["duration_s"]))
    lines.append(
        f"utterances: {info['utterances']}, total duration {seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    )
    for title, counts in (("label", info["labels"]), ("speaker", info["speakers"])):
        lines.append(f"per {title}:")
        width = max((len(k) for k in counts), default=0)
        lines.extend(f"  {key:<{width}}  {count:>6}" for key, count in counts.items())
    problems = info["problems"]
    lines.append(f"problems: {len(problems) or 'none'}")
    lines.extend(f"  {p}" for p in problems[:max_problems])
    if len(problems) > max_problems:
        lines.append(f"  ... and {len(problems) - max_problems} more")
    return "\n".join(lines)


def to_hf_dataset(df: pd.DataFrame) -> datasets.Dataset:
    """Convert a corpus table to a Hugging Face :class:`datasets.Dataset`.

    Audio stays a path string (no ``datasets.Audio`` column), so nothing is
    decoded through ``datasets``; load it with :func:`emocirc.audio.load_audio`.
    The table's ``attrs`` (format, root, problems, skipped) go to ``dataset.info.description``.
    Needs the ``hf`` extra (``pip install 'emocirc[hf]'``).

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["a"], "path": ["/x/a.wav"], "label": ["anger"], "duration": [1.5]})
    >>> ds = to_hf_dataset(df)
    >>> ds.num_rows, ds[0]["path"]
    (1, '/x/a.wav')
    """
    import json

    try:
        import datasets  # imported lazily: an optional extra, slow to import, and few callers need it
    except ModuleNotFoundError:
        raise EmocircError(
            "to_hf_dataset needs the Hugging Face datasets package; expected it installed "
            "(pip install 'emocirc[hf]' or pip install datasets)"
        ) from None

    plain = pd.DataFrame(df).reset_index(drop=True)
    attrs = {k: v for k, v in df.attrs.items() if k in ("format", "root", "problems", "skipped")}
    plain.attrs = {}
    # pandas' str dtype would become Arrow large_string; plain string is what datasets users expect.
    for column in plain.columns:
        if pd.api.types.is_string_dtype(plain[column]):
            plain[column] = plain[column].astype(object)
    info = datasets.DatasetInfo(description=json.dumps(attrs))
    return datasets.Dataset.from_pandas(plain, preserve_index=False, info=info)
