"""CSV manifests: any other corpus, described by one table.

A manifest has the columns ``path`` and ``label`` and, optionally,
``speaker``, ``valence``, ``arousal``, ``dominance``, ``gender`` and ``id``.
Relative paths are relative to the manifest's folder.  Labels are mapped to
the canonical English names (``angry`` -> ``anger``); an unknown label is an
error naming the file and row.  Dimensional ratings are kept on the
manifest's own scale (IEMOCAP's is 1-5); a missing speaker becomes
``"unknown"``, which speaker-independent splits treat as one speaker.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError
from emocirc.labels import canonical_label

#: File name looked for when a folder is given instead of a CSV file.
MANIFEST_NAME = "manifest.csv"
REQUIRED = ("path", "label")
OPTIONAL_NUMERIC = ("valence", "arousal", "dominance")


def manifest_path(root: str | os.PathLike[str]) -> Path:
    """The manifest file: ``root`` itself if it is a file, else ``root/manifest.csv``.

    Examples
    --------
    >>> manifest_path("/data/corpus/manifest.csv").name
    'manifest.csv'
    """
    root = Path(root)
    if root.is_dir():
        candidate = root / MANIFEST_NAME
        if not candidate.is_file():
            raise EmocircError(
                f"{root}: no {MANIFEST_NAME}; expected a CSV manifest file or a folder holding one"
            )
        return candidate
    if root.suffix.lower() != ".csv" and not root.is_file():
        raise EmocircError(
            f"{root}: not found; expected a CSV manifest file or a folder holding {MANIFEST_NAME}"
        )
    return root


def read_table(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, list[str]]:
    """Parse a CSV manifest into an utterance table (no audio is read).

    Returns the table (without ``duration``) and a list of problems.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "manifest.csv").write_text("path,label,arousal\\nclips/a.wav,Angry,4.5\\n")
    >>> table, _ = read_table(root)
    >>> table.loc[0, ["id", "label", "speaker"]].tolist(), float(table.loc[0, "arousal"])
    (['a', 'anger', 'unknown'], 4.5)
    """
    path = manifest_path(root)
    if not path.is_file():
        raise EmocircError(f"{path}: manifest not found; expected a CSV file with columns path,label")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise EmocircError(f"{path}: unreadable CSV manifest ({' '.join(str(err).split())})") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise EmocircError(
            f"{path}: manifest lacks column(s) {', '.join(missing)}; expected columns path,label "
            "and optionally speaker,valence,arousal"
        )
    if raw.empty:
        raise EmocircError(f"{path}: manifest has no rows; expected one row per utterance")
    base = path.resolve().parent
    rows = []
    for i, record in enumerate(raw.to_dict("records")):
        line = i + 2  # 1-based, after the header line
        rel = str(record["path"]).strip()
        if not rel:
            raise EmocircError(f"{path}:{line}: empty path; expected the audio file's path")
        try:
            label = canonical_label(record["label"])
        except EmocircError as err:
            raise EmocircError(f"{path}:{line}: {err}") from None
        row: dict[str, object] = {
            "path": str((base / rel).resolve()),
            "label": label,
            "speaker": str(record.get("speaker", "")).strip() or "unknown",
            "gender": _gender(record.get("gender", ""), path, line),
        }
        for column in OPTIONAL_NUMERIC:
            row[column] = _number(record.get(column, ""), column, path, line)
        given_id = str(record.get("id", "")).strip()
        row["id"] = given_id or Path(rel).with_suffix("").as_posix()
        rows.append(row)
    table = pd.DataFrame(rows)
    # Short ids (file stems) when they are unique; relative paths otherwise.
    if "id" not in raw.columns or not raw["id"].str.strip().all():
        stems = table["id"].map(lambda s: s.rsplit("/", 1)[-1])
        if not stems.duplicated().any():
            table["id"] = stems
    problems = []
    duplicated = table["id"].duplicated(keep="first")
    for utterance in table.loc[duplicated, "id"]:
        problems.append(f"{path}: duplicate utterance id {utterance!r}; the first row is kept")
    table = table.loc[~duplicated].reset_index(drop=True)
    return table, problems


def _number(value: object, column: str, path: Path, line: int) -> float:
    text = str(value).strip()
    if not text:
        return np.nan
    try:
        number = float(text)
    except ValueError:
        raise EmocircError(f"{path}:{line}: {column}={text!r}; expected a number or an empty cell") from None
    if not np.isfinite(number):
        raise EmocircError(f"{path}:{line}: {column}={text!r}; expected a finite number")
    return number


def _gender(value: object, path: Path, line: int) -> str:
    text = str(value).strip().upper()
    if text in ("", "F", "M"):
        return text
    if text in ("FEMALE", "MALE"):
        return text[0]
    raise EmocircError(f"{path}:{line}: gender={value!r}; expected F, M or empty")
