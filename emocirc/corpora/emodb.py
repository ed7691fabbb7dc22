"""EMODB, the Berlin Database of Emotional Speech (Burkhardt et al. 2005).

The release keeps its 535 utterances in ``<root>/wav/`` as ``SSTTTEV.wav``:
speaker ``SS``, text code ``TTT``, German emotion initial ``E`` and version
letter ``V`` (``03a01Fa.wav``).  Sibling folders (``silb/``, ``labsilb/``,
``lablaut/``) and non-wav files are ignored.  A file name that does not follow
the scheme, or names an unknown speaker, text or emotion, is an error naming
the file: guessing a label would poison every figure downstream.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError

#: Speaker code -> gender letter.
SPEAKERS: dict[str, str] = {
    "03": "M",
    "08": "F",
    "09": "F",
    "10": "M",
    "11": "M",
    "12": "M",
    "13": "F",
    "14": "F",
    "15": "M",
    "16": "F",
}

#: Text code -> the German sentence spoken.
TEXTS: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}

#: German emotion initial -> canonical label.
EMOTIONS: dict[str, str] = {
    "W": "anger",  # Wut
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happiness",  # Freude
    "T": "sadness",  # Trauer
    "N": "neutral",
}

_NAME = re.compile(
    r"^(?P<speaker>\d{2})(?P<sentence>[a-z]\d{2})(?P<emotion>[A-Za-z])(?P<version>[a-z])\.wav$"
)


def parse_name(name: str) -> dict[str, str]:
    """Split an EMODB file name into its fields.

    Raises :class:`EmocircError` naming the file when the name is malformed
    or its speaker, text code or emotion letter is unknown.

    Examples
    --------
    >>> parse_name("03a01Fa.wav")["label"]
    'happiness'
    >>> parse_name("16b10Wb.wav")["gender"]
    'F'
    """
    match = _NAME.match(name)
    if not match:
        raise EmocircError(
            f"{name}: malformed EMODB file name; expected SSTTTEV.wav "
            "(speaker, text code, emotion letter, version), e.g. 03a01Fa.wav"
        )
    speaker, sentence, letter, version = match.group("speaker", "sentence", "emotion", "version")
    if letter not in EMOTIONS:
        raise EmocircError(
            f"{name}: unknown EMODB emotion letter {letter!r}; expected one of {''.join(EMOTIONS)}"
        )
    if speaker not in SPEAKERS:
        raise EmocircError(
            f"{name}: unknown EMODB speaker {speaker!r}; expected one of {', '.join(SPEAKERS)}"
        )
    if sentence not in TEXTS:
        raise EmocircError(
            f"{name}: unknown EMODB text code {sentence!r}; expected one of {', '.join(TEXTS)}"
        )
    return {
        "id": name[:-4],
        "label": EMOTIONS[letter],
        "speaker": speaker,
        "gender": SPEAKERS[speaker],
        "sentence": sentence,
        "text": TEXTS[sentence],
        "version": version,
    }


def wav_dir(root: str | Path) -> Path:
    """The folder holding EMODB's wav files: ``<root>/wav``, or ``root`` itself if it is that folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "wav").mkdir()
    >>> wav_dir(root).name
    'wav'
    """
    root = Path(root)
    if (root / "wav").is_dir():
        return root / "wav"
    if root.is_dir() and any(_NAME.match(p.name) for p in root.iterdir() if p.is_file()):
        return root
    raise EmocircError(f"{root}: no EMODB wav/ folder; expected <root>/wav/ holding files like 03a01Fa.wav")


def is_emodb(root: str | Path) -> bool:
    """Whether ``root`` looks like an EMODB copy (a ``wav/`` folder of ``SSTTTEV.wav`` files)."""
    root = Path(root)
    folder = root / "wav" if (root / "wav").is_dir() else root
    if not folder.is_dir():
        return False
    return any(_NAME.match(p.name) for p in folder.iterdir())


def read_table(root: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Parse the utterance table of an EMODB copy from its file names (no audio is read).

    Returns the table (without ``duration``) and a list of problems.  Hidden
    files (``.*``, including macOS ``._*`` resource forks) are skipped.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "wav").mkdir()
    >>> _ = (root / "wav" / "03a01Fa.wav").write_bytes(b"")
    >>> table, problems = read_table(root)
    >>> table[["id", "label", "speaker", "sentence"]].values.tolist()
    [['03a01Fa', 'happiness', '03', 'a01']]
    """
    folder = wav_dir(root)
    rows = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() != ".wav" or not path.is_file():
            continue
        fields = parse_name(path.name if path.suffix == ".wav" else path.stem + ".wav")
        fields["path"] = str(path.resolve())
        rows.append(fields)
    if not rows:
        raise EmocircError(f"{folder}: no EMODB wav files; expected files like 03a01Fa.wav")
    table = pd.DataFrame(rows)
    for column in ("valence", "arousal", "dominance"):
        table[column] = np.nan
    return table, []


def release_file_names() -> list[str]:
    """The 535 file names of EMODB's ``wav/`` folder as released.

    Examples
    --------
    >>> names = release_file_names()
    >>> len(names), names[0]
    (535, '03a01Fa.wav')
    """
    text = resources.files("emocirc").joinpath("data/emodb_files.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
