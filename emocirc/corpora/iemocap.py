"""IEMOCAP (Busso et al. 2008): the summary lines of its EmoEvaluation files.

Each ``<root>/Session{n}/dialog/EmoEvaluation/<dialog>.txt`` holds, per
utterance, one tab-separated summary line::

    [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]

followed by per-annotator lines (``C-E2:``, ``A-E3:``...) that are not
summaries.  Only the top-level ``.txt`` files are read: the sub-folders
(``Categorical/``, ``Attribute/``, ``Self-evaluation/``) and macOS ``._*``
resource forks are ignored.  The wav of an utterance is
``Session{n}/sentences/wav/<dialog>/<id>.wav``.  An unknown emotion code or a
malformed summary line is an error naming the file and line.  A summary
whose wav is missing stays in :func:`read_table`'s output;
:func:`emocirc.corpora.load_corpus` leaves it out of the corpus table and
reports it in ``df.attrs["problems"]``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from emocirc.errors import EmocircError
from emocirc.labels import canonical_label

#: IEMOCAP's emotion codes -> canonical labels (``xxx``: annotators did not agree).
CODES: dict[str, str] = {
    "neu": "neutral",
    "hap": "happiness",
    "exc": "excitement",
    "sad": "sadness",
    "ang": "anger",
    "fru": "frustration",
    "sur": "surprise",
    "fea": "fear",
    "dis": "disgust",
    "oth": "other",
    "xxx": "other",
}

_NUMBER = r"[-+]?\d+(?:\.\d*)?"
_SUMMARY = re.compile(
    rf"^\[\s*(?P<start>{_NUMBER})\s*-\s*(?P<end>{_NUMBER})\s*\]\s+(?P<id>\S+)\s+(?P<code>\S+)\s+"
    rf"\[\s*(?P<v>{_NUMBER})\s*,\s*(?P<a>{_NUMBER})\s*,\s*(?P<d>{_NUMBER})\s*\]\s*$"
)
_UTTERANCE = re.compile(r"^Ses(?P<session>\d{2})[FM]_(?P<rest>.+)_(?P<gender>[FM])\d{3}$")
_SESSION_DIR = re.compile(r"^Session(\d+)$")


def parse_utterance_id(utterance: str) -> dict[str, object]:
    """Session, speaker, gender, dialog and mode of an IEMOCAP utterance name.

    The speaker is the session number plus the gender letter right before the
    final three-digit index, not the one after ``Ses01``, which names who wore
    the motion-capture markers.

    Examples
    --------
    >>> fields = parse_utterance_id("Ses01F_impro01_M002")
    >>> fields["speaker"], fields["dialog"], fields["mode"]
    ('1M', 'Ses01F_impro01', 'improvised')
    """
    match = _UTTERANCE.match(utterance)
    if not match:
        raise EmocircError(
            f"{utterance!r}: malformed IEMOCAP utterance name; expected e.g. Ses01F_impro01_F000"
        )
    session = int(match.group("session"))
    gender = match.group("gender")
    dialog = utterance.rsplit("_", 1)[0]
    return {
        "session": session,
        "speaker": f"{session}{gender}",
        "gender": gender,
        "dialog": dialog,
        "mode": "improvised" if "_impro" in dialog else "scripted",
    }


def parse_summary_file(path: str | Path) -> list[dict[str, object]]:
    """The summary lines of one EmoEvaluation file, as dicts.

    Header (``%``) and per-annotator lines are skipped; any other line that
    starts with ``[`` must be a well-formed summary line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "Ses01F_impro01.txt"
    >>> _ = f.write_text(
    ...     "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\\n\\n"
    ...     "[6.2901 - 8.2357]\\tSes01F_impro01_F000\\tneu\\t[2.5000, 2.5000, 2.5000]\\n"
    ...     "C-E2:\\tNeutral;\\t()\\n"
    ... )
    >>> [(r["id"], r["label"], r["start"]) for r in parse_summary_file(f)]
    [('Ses01F_impro01_F000', 'neutral', 6.2901)]
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise EmocircError(f"{path}: cannot read IEMOCAP summary file ({err.strerror})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("["):
            continue  # header, blank or per-annotator line
        match = _SUMMARY.match(line.strip())
        if not match:
            raise EmocircError(
                f"{path}:{lineno}: malformed IEMOCAP summary line {line.strip()!r}; expected "
                "'[START - END]<TAB>UTTERANCE<TAB>CODE<TAB>[V, A, D]'"
            )
        code = match.group("code").lower()
        if code not in CODES:
            raise EmocircError(
                f"{path}:{lineno}: unknown IEMOCAP emotion code {match.group('code')!r}; "
                f"expected one of {', '.join(CODES)}"
            )
        utterance = match.group("id")
        try:
            fields = parse_utterance_id(utterance)
        except EmocircError as err:
            raise EmocircError(f"{path}:{lineno}: {err}") from None
        rows.append(
            {
                "id": utterance,
                "label": canonical_label(CODES[code]),
                "valence": float(match.group("v")),
                "arousal": float(match.group("a")),
                "dominance": float(match.group("d")),
                "start": float(match.group("start")),
                "end": float(match.group("end")),
                **fields,
            }
        )
    return rows


def session_dirs(root: str | Path) -> list[Path]:
    """The ``Session{n}`` folders directly under ``root``, in session order."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _SESSION_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def is_iemocap(root: str | Path) -> bool:
    """Whether ``root`` holds IEMOCAP ``Session{n}/dialog/EmoEvaluation`` folders."""
    return any((s / "dialog" / "EmoEvaluation").is_dir() for s in session_dirs(root))


def read_table(root: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Parse the utterance table of an IEMOCAP copy (no audio is read).

    Returns the table (without ``duration``; ``path`` points where the wav
    should be, existing or not) and a list of problems (duplicate summary
    lines, whose first occurrence is kept).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> emo = root / "Session1" / "dialog" / "EmoEvaluation"
    >>> emo.mkdir(parents=True)
    >>> _ = (emo / "Ses01F_script01_1.txt").write_text(
    ...     "[1.0 - 2.5]\\tSes01F_script01_1_M003\\texc\\t[4.0, 4.5, 3.0]\\n")
    >>> table, _ = read_table(root)
    >>> table.loc[0, ["speaker", "mode", "label"]].tolist()
    ['1M', 'scripted', 'excitement']
    """
    root = Path(root)
    sessions = session_dirs(root)
    if not sessions:
        raise EmocircError(f"{root}: no IEMOCAP Session folders; expected <root>/Session1 ... Session5")
    rows: list[dict[str, object]] = []
    problems: list[str] = []
    for session in sessions:
        emo_dir = session / "dialog" / "EmoEvaluation"
        if not emo_dir.is_dir():
            problems.append(f"{emo_dir}: missing EmoEvaluation folder; session skipped")
            continue
        files = sorted(p for p in emo_dir.glob("*.txt") if p.is_file() and not p.name.startswith("."))
        for txt in files:
            for row in parse_summary_file(txt):
                wav = session / "sentences" / "wav" / str(row["dialog"]) / f"{row['id']}.wav"
                row["path"] = str(wav.resolve())
                rows.append(row)
    if not rows:
        raise EmocircError(f"{root}: no IEMOCAP summary lines found in Session*/dialog/EmoEvaluation/*.txt")
    table = pd.DataFrame(rows)
    duplicated = table["id"].duplicated(keep="first")
    for utterance in table.loc[duplicated, "id"]:
        problems.append(f"{utterance}: duplicate summary line; the first one is kept")
    table = table.loc[~duplicated].reset_index(drop=True)
    table["session"] = table["session"].astype(int)
    return table, problems
