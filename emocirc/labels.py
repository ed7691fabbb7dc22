"""Canonical emotion labels shared by every corpus.

Each corpus loader maps its own codes (EMODB's German initials, IEMOCAP's
three-letter codes, free text in a CSV manifest) onto the canonical English
names below.  The four-class set used for training and cross-corpus transfer
is anger, happiness (IEMOCAP's excitement merged in), sadness and neutral.
"""

from __future__ import annotations

from collections.abc import Iterable

from emocirc.errors import EmocircError

#: Every label a corpus table may hold.  ``other`` is IEMOCAP's ``xxx`` and
#: ``oth`` (no agreement, or outside the scheme) and is dropped by default.
CANONICAL_LABELS: tuple[str, ...] = (
    "anger",
    "happiness",
    "sadness",
    "neutral",
    "fear",
    "disgust",
    "boredom",
    "excitement",
    "frustration",
    "surprise",
    "other",
)

#: The four classes of the seed's fine-tuning and of IEMOCAP->EMODB transfer.
FOUR_CLASS: tuple[str, ...] = ("anger", "happiness", "sadness", "neutral")

_FOUR_CLASS_MAP = {
    "anger": "anger",
    "happiness": "happiness",
    "excitement": "happiness",
    "sadness": "sadness",
    "neutral": "neutral",
}

_ALIASES = {
    "angry": "anger",
    "ang": "anger",
    "happy": "happiness",
    "hap": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "neu": "neutral",
    "fearful": "fear",
    "fea": "fear",
    "disgusted": "disgust",
    "dis": "disgust",
    "bored": "boredom",
    "excited": "excitement",
    "exc": "excitement",
    "frustrated": "frustration",
    "fru": "frustration",
    "surprised": "surprise",
    "sur": "surprise",
    "oth": "other",
    "xxx": "other",
}


def canonical_label(name: str) -> str:
    """Return the canonical name of an emotion label (case-insensitive).

    Examples
    --------
    >>> canonical_label("Angry")
    'anger'
    >>> canonical_label("exc")
    'excitement'
    """
    key = str(name).strip().lower()
    if key in CANONICAL_LABELS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise EmocircError(f"unknown emotion label {name!r}: expected one of {', '.join(CANONICAL_LABELS)}")


def to_four_class(label: str) -> str | None:
    """Map a canonical label to the four-class set, or ``None`` when it has no counterpart.

    Examples
    --------
    >>> to_four_class("excitement")
    'happiness'
    >>> to_four_class("boredom") is None
    True
    """
    return _FOUR_CLASS_MAP.get(label)


def label_order(labels: Iterable[str]) -> list[str]:
    """Sort labels in the canonical order (unknown ones last, alphabetically).

    Examples
    --------
    >>> label_order(["neutral", "anger", "zzz"])
    ['anger', 'neutral', 'zzz']
    """
    present = set(labels)
    known = [lab for lab in CANONICAL_LABELS if lab in present]
    return known + sorted(present - set(CANONICAL_LABELS))
