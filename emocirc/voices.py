"""The one allocation of eSpeak NG voice variants to the embedded corpora.

An eSpeak voice is a language and a *variant*, written ``"en-us+f2"``: the
language sets the pronunciation, the variant (the part after ``+``) the
vocal tract, the pitch and the voice quality, i.e. who is speaking.  The
claims the book makes about the embedded corpora, "speakers it never saw"
and "another language", hold only if no two corpora share a variant.  This
module lists the variants that ship with ``espeakng-loader``
(``espeak-ng-data/voices/!v``) and hands each to exactly one corpus:

==============  ========================================================
corpus          variants
==============  ========================================================
``iemocap``     5 female, 5 male (one pair per session)
``emodb``       5 female, 5 male (EMODB's ten speakers)
``diary``       3 female, 3 male (the diary's persons)
``readspeech``  every other usable variant (the pre-training corpus)
==============  ========================================================

Variants come in *families*: ``steph``, ``steph2`` and ``steph3`` are one
voice with small changes of breath or consonant strength, as are
``klatt``-``klatt6``, ``iven``-``iven4`` or ``anika`` and ``anikaRobot``.  A
family goes to one corpus as a whole, so that no corpus hears a near-copy of
another's speaker.

The emotional corpora and the diary take plain, natural-sounding variants in
a fixed order of preference (:data:`PREFERENCE`): IEMOCAP keeps the ten it
had before this allocation (``f1``-``f5``, ``m1``-``m3``, ``m5``, ``m6``),
EMODB the next ones, and the diary the six its first persons spoke with
before (:func:`diary_persons`), so neither corpus's audio changed more than
disjointness needs.  Female variants are few (15 families): the emotional
corpora and the diary take 13, so the pre-training corpus reads with 2
female families against 40-odd male ones.  Variants that would break the emotion
rules are never used (:data:`EXCLUDED`): whispered ones have no pitch to
raise, robotic and "demonic" ones a flat or distorted voice, and two
cartoon voices an F0 near 400 Hz.  The pre-training corpus gets every
remaining family, including the Klatt-synthesiser ones, which widen its
range of voices.

A variant's gender is the file's ``gender`` line where it has one; the
variants without one are male (eSpeak's default) except ``shelby``, whose F0
(about 180 Hz with ``en-us``) is a female voice's; ``tests/test_voices.py``
checks every gender against the measured F0.

Examples
--------
>>> voices_for("iemocap", "F")
('f1', 'f2', 'f3', 'f4', 'f5')
>>> len(voices_for("diary", "M")), len(voices_for("emodb", "F", 5))
(3, 5)
>>> set(voices_for("emodb", "M")) & set(voices_for("iemocap", "M"))
set()
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from emocirc.errors import EmocircError

#: Corpora that receive variants, in the order the allocation serves them.
CORPORA: tuple[str, ...] = ("iemocap", "emodb", "diary", "readspeech")

#: Variants each emotional corpus (and the diary) takes, per gender.
NEEDS: dict[str, dict[str, int]] = {
    "iemocap": {"F": 5, "M": 5},
    "emodb": {"F": 5, "M": 5},
    "diary": {"F": 3, "M": 3},
}

#: Plain variants in the order the emotional corpora take them (families, by their first member).
PREFERENCE: dict[str, tuple[str, ...]] = {
    "F": ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "aunty", "grandma", "linda", "steph", "belinda"),
    "M": ("m1", "m2", "m3", "m5", "m6", "m4", "m7", "m8", "victor", "max", "paul", "robert", "edward"),
}  # fmt: skip

#: Variants no corpus uses, with the reason.
EXCLUDED: dict[str, str] = {
    "fast": "a test voice: the same samples as no variant at all",
    "whisper": "whispered: no voicing, so no pitch for the emotion rules",
    "whisperf": "whispered: no voicing, so no pitch for the emotion rules",
    "caleb": "a cartoon voice, F0 near 400 Hz and half of it unvoiced",
    "zac": "a cartoon voice, F0 near 350 Hz",
    "Mr serious": "a space in its name, which eSpeak's voice syntax does not expect",
    "Demonic": "a distorted voice effect",
    "UniRobot": "a robot voice",
    "anikaRobot": "a robot voice",
    "robosoft": "a robot voice (robosoft2-8 likewise)",
    "announcer": "a radio-announcement effect (band-limited, echo)",
    "Tweaky": "a voice effect (formants bent out of a human range)",
    "croak": "a croaking voice effect",
}

#: Variants without a ``gender`` line that are not male, judged by their F0.
_GENDER_BY_EAR: dict[str, str] = {"shelby": "F"}

#: Families whose members' names do not share a stem.
_FAMILY_OF: dict[str, str] = {"anikaRobot": "anika", "AnxiousAndy": "Andy", "mike2": "Mike"}


@dataclass(frozen=True)
class Variant:
    """One eSpeak voice variant.

    Parameters
    ----------
    name : str
        File name in ``voices/!v`` (what follows ``+`` in a voice name).
    gender : str
        ``"F"`` or ``"M"``.
    family : str
        The family it belongs to (variants that are one voice with small changes).
    corpus : str
        The corpus it is allocated to, or ``""`` if excluded.

    Examples
    --------
    >>> Variant("f2", "F", "f2", "iemocap").voice("en-us")
    'en-us+f2'
    """

    name: str
    gender: str
    family: str
    corpus: str

    def voice(self, language: str) -> str:
        """The eSpeak voice name of this variant in ``language``."""
        return f"{language}+{self.name}"


def variants_dir() -> Path:
    """The folder of eSpeak NG's variant files shipped by ``espeakng-loader``.

    Examples
    --------
    >>> (variants_dir() / "f1").is_file()
    True
    """
    from emocirc.espeak import data_path

    return data_path() / "voices" / "!v"


def family(name: str) -> str:
    """The family of a variant: its name without a trailing number (``steph3`` -> ``steph``).

    One- or two-letter stems keep their number: ``f1`` and ``m3`` are voices of their own.

    Examples
    --------
    >>> family("steph3"), family("klatt"), family("m3"), family("anikaRobot")
    ('steph', 'klatt', 'm3', 'anika')
    """
    if name in _FAMILY_OF:
        return _FAMILY_OF[name]
    stem = re.sub(r"\d+$", "", name)
    return stem if len(stem) > 2 else name


def _declared_gender(path: Path) -> str:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].lower() == "gender":
            return {"female": "F", "male": "M"}.get(words[1].lower(), "")
    return ""


@functools.cache
def _allocate() -> tuple[Variant, ...]:
    folder = variants_dir()
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    if not names:
        raise EmocircError(f"{folder}: expected eSpeak NG voice variant files, found none")
    gender = {n: _declared_gender(folder / n) or _GENDER_BY_EAR.get(n, "M") for n in names}
    excluded = {n for n in names if n in EXCLUDED or family(n) in EXCLUDED}
    corpus_of_family: dict[str, str] = {}
    for g, preferred in PREFERENCE.items():
        missing = [n for n in preferred if n not in names]
        if missing:
            raise EmocircError(
                f"{folder}: expected the eSpeak variants {missing}; this espeakng-loader lacks them"
            )
        queue = list(preferred)
        for corpus, needs in NEEDS.items():
            for _ in range(needs[g]):
                corpus_of_family[family(queue.pop(0))] = corpus
    out = []
    for n in names:
        corpus = "" if n in excluded else corpus_of_family.get(family(n), "readspeech")
        out.append(Variant(n, gender[n], family(n), corpus))
    return tuple(out)


def allocation() -> pd.DataFrame:
    """Every shipped variant with its gender, family and corpus (``""``: excluded), one row each.

    Examples
    --------
    >>> table = allocation()
    >>> table.columns.tolist()
    ['name', 'gender', 'family', 'corpus']
    >>> used = table[table["corpus"] != ""]
    >>> int(used.groupby("family")["corpus"].nunique().max())  # a family never spans two corpora
    1
    """
    return pd.DataFrame([vars(v) for v in _allocate()], columns=["name", "gender", "family", "corpus"])


def diary_persons() -> tuple[tuple[str, str], ...]:
    """The diary persons' variants and genders, alternating female and male: ``(variant, gender)`` each.

    Examples
    --------
    >>> diary_persons()[:2]
    (('linda', 'F'), ('paul', 'M'))
    >>> len(diary_persons())
    6
    """
    female, male = voices_for("diary", "F"), voices_for("diary", "M")
    return tuple(pair for f, m in zip(female, male, strict=True) for pair in ((f, "F"), (m, "M")))


def voices_for(corpus: str, gender: str, n: int | None = None) -> tuple[str, ...]:
    """The variants allocated to ``corpus`` with ``gender``, in allocation order.

    Parameters
    ----------
    corpus : str
        One of :data:`CORPORA`.
    gender : str
        ``"F"`` or ``"M"``.
    n : int, optional
        How many (default: all); more than the corpus holds is an error.

    Returns
    -------
    tuple of str
        Variant names, e.g. ``('f1', 'f2')``; join with a language as ``"en-us+f1"``.

    Examples
    --------
    >>> voices_for("iemocap", "M")
    ('m1', 'm2', 'm3', 'm5', 'm6')
    >>> voices_for("diary", "F", 1)
    ('linda',)
    """
    if corpus not in CORPORA:
        raise EmocircError(f"corpus {corpus!r}: expected one of {', '.join(CORPORA)}")
    if gender not in ("F", "M"):
        raise EmocircError(f"gender {gender!r}: expected 'F' or 'M'")
    if corpus in NEEDS:
        # The preference order, not the alphabet: IEMOCAP session k gets the k-th pair.
        chosen = tuple(
            v.name
            for name in PREFERENCE[gender]
            for v in _allocate()
            if v.name == name and v.corpus == corpus
        )
    else:
        chosen = tuple(v.name for v in _allocate() if v.corpus == corpus and v.gender == gender)
    if n is not None:
        if not 0 <= n <= len(chosen):
            raise EmocircError(f"n={n}: corpus {corpus!r} holds {len(chosen)} {gender} variants")
        chosen = chosen[:n]
    return chosen


__all__ = [
    "CORPORA",
    "EXCLUDED",
    "NEEDS",
    "PREFERENCE",
    "Variant",
    "allocation",
    "diary_persons",
    "family",
    "variants_dir",
    "voices_for",
]
