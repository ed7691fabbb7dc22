"""Evaluation splits: which utterances train, validate and test a model.

Every split is a :class:`Split` of *positional* index arrays into the corpus
table (use ``df.iloc[split.train]``).  Protocols (:data:`PROTOCOLS`):

``speaker-dependent``
    The seed's protocol (SpeechBrain's IEMOCAP recipe): each speaker's
    utterances are shuffled and cut 80/10/10, so every speaker is in all
    three sets.  Optimistic: the model has heard the test speakers.
``leave-one-session-out`` (IEMOCAP, 5 folds, SUPERB/EmoBox)
    Test on one session's two speakers.  Validation is one speaker of the
    *next* session (cyclically; which of its two speakers is ``seed % 2`` in
    sorted order), so no speaker is in two sets; the other 7 speakers train.
``leave-two-speakers-out`` (IEMOCAP, 10 folds)
    Test on one speaker, validate on the other speaker of the same session,
    train on the remaining 8.
``leave-one-speaker-out`` (EMODB, 10 folds)
    Test on one speaker.  Validation is picked deterministically: speakers in
    sorted order, the one ``1 + seed % (n - 1)`` places after the test
    speaker (cyclically), so each speaker validates exactly one fold.

All protocols are reproducible: the same table and seed give the same splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError

#: Protocol names accepted by :func:`folds`.
PROTOCOLS: tuple[str, ...] = (
    "speaker-dependent",
    "leave-one-session-out",
    "leave-two-speakers-out",
    "leave-one-speaker-out",
)


@dataclass(frozen=True, eq=False)
class Split:
    """One train/validation/test partition of a corpus table.

    Attributes
    ----------
    name : str
        E.g. ``"speaker-dependent"``, ``"session-3"``, ``"test-3F"``.
    train, valid, test : numpy.ndarray
        Sorted, disjoint positional (``iloc``) indices into the table.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"speaker": ["a", "a", "b"]})
    >>> s = Split("demo", np.array([0]), np.array([1]), np.array([2]))
    >>> [len(part) for part in s.frames(df)]
    [1, 1, 1]
    """

    name: str
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def frames(self, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The train, validation and test rows of ``df``."""
        return df.iloc[self.train], df.iloc[self.valid], df.iloc[self.test]

    def __repr__(self) -> str:
        return (
            f"Split({self.name!r}, train={len(self.train)}, valid={len(self.valid)}, test={len(self.test)})"
        )


def speaker_dependent_split(
    df: pd.DataFrame,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> Split:
    """Seeded random 80/10/10 split within each speaker (the seed report's protocol).

    A speaker with at least three utterances gives at least one to the
    validation and to the test set.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"speaker": ["a"] * 10 + ["b"] * 10})
    >>> speaker_dependent_split(df, seed=0)
    Split('speaker-dependent', train=16, valid=2, test=2)
    """
    _require(df, "speaker", "speaker-dependent")
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise EmocircError(f"fractions={fractions!r}: expected three non-negative numbers summing to 1")
    rng = np.random.default_rng(seed)
    speakers = df["speaker"].astype(str).to_numpy()
    train, valid, test = [], [], []
    for speaker in sorted(set(speakers)):
        rows = np.flatnonzero(speakers == speaker)
        rows = rng.permutation(rows)
        n = len(rows)
        n_valid = int(round(n * fractions[1]))
        n_test = int(round(n * fractions[2]))
        if n >= 3:
            n_valid = max(n_valid, 1 if fractions[1] > 0 else 0)
            n_test = max(n_test, 1 if fractions[2] > 0 else 0)
        else:
            n_valid = n_test = 0
        test.append(rows[:n_test])
        valid.append(rows[n_test : n_test + n_valid])
        train.append(rows[n_test + n_valid :])
    return _make("speaker-dependent", train, valid, test)


def folds(df: pd.DataFrame, protocol: str, seed: int = 0) -> list[Split]:
    """All folds of an evaluation protocol (see the module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        A corpus table; needs ``speaker``, and ``session`` for the
        session-based protocols.
    protocol : str
        One of :data:`PROTOCOLS`.
    seed : int
        Seed of the random or rotating choices.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"speaker": ["1F", "1M", "2F", "2M", "3F", "3M"], "session": [1, 1, 2, 2, 3, 3]})
    >>> [(s.name, df.speaker[s.valid].tolist()) for s in folds(df, "leave-two-speakers-out")][:2]
    [('test-1F', ['1M']), ('test-1M', ['1F'])]
    >>> folds(df, "leave-one-session-out")[0]
    Split('session-1', train=3, valid=1, test=2)
    """
    if protocol not in PROTOCOLS:
        raise EmocircError(f"protocol={protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    if protocol == "speaker-dependent":
        return [speaker_dependent_split(df, seed=seed)]
    _require(df, "speaker", protocol)
    speakers = df["speaker"].astype(str).to_numpy()
    if protocol == "leave-one-speaker-out":
        return _leave_one_speaker_out(speakers, seed)
    _require(df, "session", protocol)
    sessions = df["session"].to_numpy()
    if protocol == "leave-one-session-out":
        return _leave_one_session_out(speakers, sessions, seed)
    return _leave_two_speakers_out(speakers, sessions)


def _leave_one_speaker_out(speakers: np.ndarray, seed: int) -> list[Split]:
    names = sorted(set(speakers))
    n = len(names)
    if n < 3:
        raise EmocircError(
            f"leave-one-speaker-out needs at least 3 speakers (test, validation, training); got {n}: {names}"
        )
    step = 1 + seed % (n - 1)
    out = []
    for i, test_speaker in enumerate(names):
        valid_speaker = names[(i + step) % n]
        test = speakers == test_speaker
        valid = speakers == valid_speaker
        out.append(_from_masks(f"test-{test_speaker}", test, valid))
    return out


def _leave_one_session_out(speakers: np.ndarray, sessions: np.ndarray, seed: int) -> list[Split]:
    order = sorted(set(sessions.tolist()))
    if len(order) < 2:
        raise EmocircError(f"leave-one-session-out needs at least 2 sessions; got {len(order)}: {order}")
    out = []
    for i, session in enumerate(order):
        following = order[(i + 1) % len(order)]
        candidates = sorted(set(speakers[sessions == following]))
        valid_speaker = candidates[seed % len(candidates)]
        test = sessions == session
        valid = (speakers == valid_speaker) & ~test
        out.append(_from_masks(f"session-{session}", test, valid))
    return out


def _leave_two_speakers_out(speakers: np.ndarray, sessions: np.ndarray) -> list[Split]:
    # Check every speaker's session first, so the message names the real fault.
    session_of = {}
    for speaker in sorted(set(speakers)):
        own = sorted(set(sessions[speakers == speaker].tolist()))
        if len(own) != 1:
            raise EmocircError(f"speaker {speaker!r} appears in sessions {own}; expected exactly one")
        session_of[speaker] = own[0]
    out = []
    for speaker, session in session_of.items():
        partners = sorted(s for s, other in session_of.items() if other == session and s != speaker)
        if len(partners) != 1:
            raise EmocircError(
                f"session {session} has speakers {sorted([speaker, *partners])}; "
                "leave-two-speakers-out expects exactly two speakers per session"
            )
        out.append(_from_masks(f"test-{speaker}", speakers == speaker, speakers == partners[0]))
    return out


def _from_masks(name: str, test: np.ndarray, valid: np.ndarray) -> Split:
    train = ~(test | valid)
    return Split(name, np.flatnonzero(train), np.flatnonzero(valid), np.flatnonzero(test))


def _make(name: str, train: list[np.ndarray], valid: list[np.ndarray], test: list[np.ndarray]) -> Split:
    def join(parts: list[np.ndarray]) -> np.ndarray:
        return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.array([], dtype=np.int64)

    return Split(name, join(train), join(valid), join(test))


def _require(df: pd.DataFrame, column: str, protocol: str) -> None:
    if column not in df.columns:
        raise EmocircError(
            f"{protocol} split needs a {column!r} column; the table has {', '.join(df.columns)}"
        )
