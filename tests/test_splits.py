"""Tests of emocirc.splits: seeded protocols without speaker leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emocirc.corpora import load_corpus
from emocirc.corpora.emodb import SPEAKERS
from emocirc.errors import EmocircError
from emocirc.splits import PROTOCOLS, Split, folds, speaker_dependent_split
from tests.layouts import make_emodb, make_iemocap


def _iemocap_table(n_per_speaker: int = 20) -> pd.DataFrame:
    """A corpus-shaped table (no audio needed) with 5 sessions x 2 speakers, shuffled rows."""
    rows = [
        {"id": f"Ses{s:02d}_{g}{k:03d}", "speaker": f"{s}{g}", "session": s, "label": "neutral"}
        for s in range(1, 6)
        for g in "FM"
        for k in range(n_per_speaker)
    ]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=3)
    # A non-default index: splits must hold positions (iloc), not labels.
    df.index = np.arange(1000, 1000 + len(df))[::-1]
    return df


def _emodb_table() -> pd.DataFrame:
    rows = [{"speaker": sp, "label": "anger"} for sp in SPEAKERS for _ in range(7)]
    return pd.DataFrame(rows)


def _check_partition(split: Split, n: int) -> None:
    parts = (split.train, split.valid, split.test)
    for part in parts:
        assert part.dtype.kind == "i" and np.all(np.diff(part) > 0)
    everything = np.concatenate(parts)
    assert len(everything) == n and set(everything.tolist()) == set(range(n))


def _speakers(df: pd.DataFrame, idx: np.ndarray) -> set[str]:
    return set(df["speaker"].iloc[idx])


def _assert_no_leakage(df: pd.DataFrame, split: Split) -> None:
    train, valid, test = (_speakers(df, i) for i in (split.train, split.valid, split.test))
    assert not (train & valid) and not (train & test) and not (valid & test), split.name
    assert train and valid and test


def test_speaker_dependent_is_80_10_10_within_each_speaker():
    df = _iemocap_table(20)
    split = speaker_dependent_split(df, seed=0)
    _check_partition(split, len(df))
    assert (len(split.train), len(split.valid), len(split.test)) == (160, 20, 20)
    for speaker in df["speaker"].unique():
        counts = [
            int((df["speaker"].iloc[p] == speaker).sum()) for p in (split.train, split.valid, split.test)
        ]
        assert counts == [16, 2, 2]  # every speaker is heard in training: speaker-dependent


def test_speaker_dependent_is_seeded():
    df = _iemocap_table(20)
    a, b = speaker_dependent_split(df, seed=0), speaker_dependent_split(df, seed=0)
    c = speaker_dependent_split(df, seed=1)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)
    assert not np.array_equal(a.test, c.test)
    assert np.array_equal(folds(df, "speaker-dependent", seed=1)[0].test, c.test)


def test_speaker_dependent_small_speakers():
    df = pd.DataFrame({"speaker": ["a"] * 3 + ["b"] * 2})
    split = speaker_dependent_split(df)
    _check_partition(split, 5)
    assert (len(split.valid), len(split.test)) == (1, 1)  # a gives one to each; b is too small
    with pytest.raises(EmocircError, match="fractions"):
        speaker_dependent_split(df, fractions=(0.5, 0.5, 0.5))


def test_leave_one_session_out():
    df = _iemocap_table()
    splits = folds(df, "leave-one-session-out", seed=0)
    assert [s.name for s in splits] == [f"session-{s}" for s in range(1, 6)]
    for i, split in enumerate(splits, start=1):
        _check_partition(split, len(df))
        _assert_no_leakage(df, split)
        assert _speakers(df, split.test) == {f"{i}F", f"{i}M"}
        nxt = i % 5 + 1
        assert _speakers(df, split.valid) == {f"{nxt}F"}  # seed 0: first speaker of the next session
        assert len(_speakers(df, split.train)) == 7
    other = folds(df, "leave-one-session-out", seed=1)
    assert _speakers(df, other[0].valid) == {"2M"}


def test_leave_two_speakers_out():
    df = _iemocap_table()
    splits = folds(df, "leave-two-speakers-out", seed=0)
    assert len(splits) == 10
    tested = []
    for split in splits:
        _check_partition(split, len(df))
        _assert_no_leakage(df, split)
        (test_speaker,) = _speakers(df, split.test)
        (valid_speaker,) = _speakers(df, split.valid)
        assert test_speaker[0] == valid_speaker[0] and test_speaker != valid_speaker  # same session
        assert split.name == f"test-{test_speaker}"
        assert len(_speakers(df, split.train)) == 8
        tested.append(test_speaker)
    assert sorted(tested) == sorted(df["speaker"].unique())


def test_leave_one_speaker_out_emodb():
    df = _emodb_table()
    splits = folds(df, "leave-one-speaker-out", seed=0)
    assert len(splits) == 10
    validators = []
    for split in splits:
        _check_partition(split, len(df))
        _assert_no_leakage(df, split)
        assert len(_speakers(df, split.test)) == 1 and len(_speakers(df, split.train)) == 8
        validators.extend(_speakers(df, split.valid))
    assert sorted(validators) == sorted(SPEAKERS)  # each speaker validates exactly once
    assert _speakers(df, splits[0].valid) == {"08"}  # the next speaker in sorted order
    assert _speakers(df, folds(df, "leave-one-speaker-out", seed=1)[0].valid) == {"09"}
    again = folds(df, "leave-one-speaker-out", seed=0)
    assert all(np.array_equal(a.valid, b.valid) for a, b in zip(splits, again, strict=True))


def test_folds_on_loaded_corpora(tmp_path):
    iemocap = load_corpus(make_iemocap(tmp_path / "i", sessions=(1, 2, 3), per_speaker=4))
    for protocol in ("leave-one-session-out", "leave-two-speakers-out"):
        for split in folds(iemocap, protocol):
            _check_partition(split, len(iemocap))
            _assert_no_leakage(iemocap, split)
    emodb = load_corpus(make_emodb(tmp_path / "e"))
    for split in folds(emodb, "leave-one-speaker-out"):
        _assert_no_leakage(emodb, split)
        train, valid, test = split.frames(emodb)
        assert len(train) + len(valid) + len(test) == len(emodb)


def test_protocol_errors():
    df = _emodb_table()
    with pytest.raises(EmocircError, match="protocol='loso'"):
        folds(df, "loso")
    with pytest.raises(EmocircError, match="needs a 'session' column"):
        folds(df, "leave-one-session-out")
    with pytest.raises(EmocircError, match="at least 3 speakers"):
        folds(df[df["speaker"].isin(["03", "08"])], "leave-one-speaker-out")
    bad = _iemocap_table(2)
    bad.loc[bad.index[0], "session"] = 4 if bad["session"].iloc[0] != 4 else 3
    with pytest.raises(EmocircError, match="appears in sessions"):
        folds(bad, "leave-two-speakers-out")
    assert set(PROTOCOLS) == {
        "speaker-dependent",
        "leave-one-session-out",
        "leave-two-speakers-out",
        "leave-one-speaker-out",
    }
