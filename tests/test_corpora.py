"""Tests of emocirc.corpora: real-layout loaders, manifests, summaries."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emocirc.corpora import (
    COLUMNS,
    MAX_NAMED,
    describe,
    detect_format,
    emodb,
    load_corpus,
    summary,
    to_hf_dataset,
)
from emocirc.errors import EmocircError
from emocirc.labels import label_order
from tests.damage import KINDS, damage
from tests.layouts import (
    EMODB_SAMPLE,
    MANIFEST_ROWS,
    emodb_duration,
    iemocap_utterances,
    make_emodb,
    make_iemocap,
    make_manifest,
    write_clip,
)

RELEASE_COUNTS = {
    "anger": 127,
    "boredom": 81,
    "disgust": 46,
    "fear": 69,
    "happiness": 71,
    "neutral": 79,
    "sadness": 62,
}


pytestmark = pytest.mark.usefixtures("emocirc_cache")


@pytest.fixture(scope="module")
def release_root(tmp_path_factory):
    return make_emodb(tmp_path_factory.mktemp("emodb-release"), "release")


# --- EMODB -------------------------------------------------------------------------------------------


def test_emodb_every_field(tmp_path):
    root = make_emodb(tmp_path / "emodb")
    df = load_corpus(root)
    assert list(df.columns) == [*COLUMNS, "sentence", "text", "version"]
    assert len(df) == len(EMODB_SAMPLE)
    assert df.attrs["format"] == "emodb"
    assert df.attrs["root"] == str(root.resolve())
    assert df.attrs["problems"] == []
    assert df["id"].tolist() == sorted(n[:-4] for n in EMODB_SAMPLE)
    row = df.set_index("id").loc["03a01Fa"]
    assert row["path"] == str((root / "wav" / "03a01Fa.wav").resolve())
    assert (row["label"], row["speaker"], row["gender"]) == ("happiness", "03", "M")
    assert (row["sentence"], row["text"], row["version"]) == (
        "a01",
        "Der Lappen liegt auf dem Eisschrank.",
        "a",
    )
    assert np.isnan(row[["valence", "arousal", "dominance"]].astype(float)).all()
    assert row["duration"] == pytest.approx(emodb_duration(EMODB_SAMPLE.index("03a01Fa.wav")))
    row = df.set_index("id").loc["16b10Wb"]
    assert (row["label"], row["speaker"], row["gender"], row["version"]) == ("anger", "16", "F", "b")
    assert row["text"] == "Die wird auf dem Platz sein, wo wir sie immer hinlegen."
    assert df.set_index("id").loc["08a01Lc", "text"] == "Der Lappen liegt auf dem Eisschrank."
    assert df.set_index("id").loc["12b01Ta", "label"] == "sadness"
    # Decoys (sibling folders' wav, ._ fork, non-wav files) are not utterances.
    assert all("/wav/" in p and "/silb/" not in p for p in df["path"])
    assert set(df["label"]) == set(emodb.EMOTIONS.values())
    for _, r in df.iterrows():
        assert emodb.SPEAKERS[r["speaker"]] == r["gender"]
        assert Path(r["path"]).is_file()


def test_emodb_release_counts(release_root):
    df = load_corpus(release_root)
    assert len(df) == 535
    assert dict(Counter(df["label"])) == RELEASE_COUNTS
    assert df["speaker"].nunique() == 10 and df.attrs["problems"] == []
    assert df.groupby("speaker")["gender"].first().to_dict() == emodb.SPEAKERS


def test_emodb_four_class(release_root):
    df = load_corpus(release_root, four_class=True)
    assert dict(Counter(df["label"])) == {
        k: RELEASE_COUNTS[k] for k in ("anger", "happiness", "sadness", "neutral")
    }


def test_load_is_fast_and_reads_headers_only(release_root, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("load_corpus must not decode audio")

    monkeypatch.setattr(sf, "read", no_decoding)
    start = time.perf_counter()
    df = load_corpus(release_root)
    assert len(df) == 535
    assert time.perf_counter() - start < 5.0


def test_emodb_root_may_be_the_wav_folder(tmp_path):
    root = make_emodb(tmp_path / "emodb")
    df = load_corpus(root / "wav")
    assert len(df) == len(EMODB_SAMPLE)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("03a01Xa.wav", r"03a01Xa\.wav: unknown EMODB emotion letter 'X'"),
        ("3a01Fa.wav", r"3a01Fa\.wav: malformed EMODB file name"),
        ("03a01Faa.wav", r"03a01Faa\.wav: malformed"),
        ("04a01Fa.wav", r"04a01Fa\.wav: unknown EMODB speaker"),
        ("03c01Fa.wav", r"03c01Fa\.wav: unknown EMODB text code"),
    ],
)
def test_emodb_bad_names_are_errors(tmp_path, name, match):
    root = make_emodb(tmp_path / "emodb", [*EMODB_SAMPLE[:3], name])
    with pytest.raises(EmocircError, match=match):
        load_corpus(root)


def test_emodb_unreadable_wav_stops_the_load_unless_skip_bad(tmp_path):
    root = make_emodb(tmp_path / "emodb")
    (root / "wav" / "03a01Fa.wav").write_bytes(b"garbage")
    with pytest.raises(EmocircError, match=r"1 of \d+ audio files cannot be used: .*03a01Fa\.wav") as err:
        load_corpus(root)
    assert "\n" not in str(err.value) and "--skip-bad" in str(err.value)
    df = load_corpus(root, skip_bad=True)
    assert "03a01Fa" not in set(df["id"]) and len(df) == len(EMODB_SAMPLE) - 1
    assert len(df.attrs["problems"]) == 1
    assert df.attrs["problems"][0].startswith("03a01Fa: ") and "03a01Fa.wav" in df.attrs["problems"][0]
    (skipped,) = df.attrs["skipped"]
    assert skipped.startswith(str(root / "wav" / "03a01Fa.wav")) and "unreadable audio" in skipped
    with pytest.raises(EmocircError, match="03a01Fa"):
        load_corpus(root, strict=True, skip_bad=True)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_damage_is_named(tmp_path, kind):
    root = make_emodb(tmp_path / "emodb")
    damage(root / "wav" / EMODB_SAMPLE[0], kind)
    with pytest.raises(EmocircError, match="cannot be used") as err:
        load_corpus(root)
    assert "\n" not in str(err.value)
    df = load_corpus(root, skip_bad=True)
    assert len(df) == len(EMODB_SAMPLE) - 1 and len(df.attrs["skipped"]) == 1


def test_many_damaged_files_are_named_up_to_a_count(tmp_path):
    root = make_emodb(tmp_path / "emodb")
    wavs = [root / "wav" / name for name in EMODB_SAMPLE[:13]]
    for wav in wavs:
        wav.write_bytes(b"")
    with pytest.raises(EmocircError) as err:
        load_corpus(root)
    message = str(err.value)
    assert f"13 of {len(EMODB_SAMPLE)} audio files" in message and message.endswith(
        "to leave them out and record them"
    )
    named = [w.name for w in wavs if w.name in message]
    assert len(named) == MAX_NAMED and "and 3 more" in message


def test_a_too_short_clip_is_damaged(tmp_path):
    root = make_emodb(tmp_path / "emodb")
    wav = root / "wav" / EMODB_SAMPLE[0]
    sf.write(wav, np.zeros(800, np.float32), 16000)  # 0.05 s: too few frames for an embedding
    with pytest.raises(EmocircError, match=r"clip is 0\.050 s long"):
        load_corpus(root)


# --- IEMOCAP -----------------------------------------------------------------------------------------


def test_iemocap_every_field(tmp_path):
    root = make_iemocap(tmp_path / "iemocap", sessions=(1, 2, 3, 4, 5), per_speaker=6)
    df = load_corpus(root)
    assert df.attrs["format"] == "iemocap" and df.attrs["problems"] == []
    assert list(df.columns) == [*COLUMNS, "session", "dialog", "mode", "start", "end"]
    truth = {r["id"]: r for r in iemocap_utterances((1, 2, 3, 4, 5), 6) if r["code"] not in ("xxx", "oth")}
    assert sorted(df["id"]) == sorted(truth) and df["id"].is_monotonic_increasing
    for _, row in df.iterrows():
        t = truth[row["id"]]
        for key in ("label", "session", "speaker", "gender", "dialog", "mode"):
            assert row[key] == t[key], (row["id"], key)
        for key in ("valence", "arousal", "dominance", "start", "end", "duration"):
            assert row[key] == pytest.approx(t[key]), (row["id"], key)
        wav = root / f"Session{t['session']}" / "sentences" / "wav" / t["dialog"] / f"{t['id']}.wav"
        assert row["path"] == str(wav.resolve())
    assert set(df["speaker"]) == {f"{s}{g}" for s in range(1, 6) for g in "FM"}
    # The dialog's Ses01M prefix is not the speaker: the letter before the index is.
    assert df.set_index("id").loc["Ses01M_script01_1_F000", "speaker"] == "1F"
    assert not any(df["id"].str.contains("999"))  # decoy lines in sub-folders and ._ files


def test_iemocap_other_is_kept_apart(tmp_path):
    root = make_iemocap(tmp_path / "iemocap", sessions=(1, 2), per_speaker=11)
    truth = iemocap_utterances((1, 2), 11)
    everything = load_corpus(root, keep_other=True)
    assert len(everything) == len(truth)
    n_other = sum(r["code"] in ("xxx", "oth") for r in truth)
    assert (everything["label"] == "other").sum() == n_other > 0
    assert len(load_corpus(root)) == len(truth) - n_other


def test_iemocap_four_class_merges_excitement(tmp_path):
    root = make_iemocap(tmp_path / "iemocap", sessions=(1, 2), per_speaker=11)
    truth = Counter(r["code"] for r in iemocap_utterances((1, 2), 11))
    df = load_corpus(root, four_class=True)
    assert set(df["label"]) == {"anger", "happiness", "sadness", "neutral"}
    counts = Counter(df["label"])
    assert counts["happiness"] == truth["hap"] + truth["exc"] and truth["exc"] > 0
    assert counts["anger"] == truth["ang"] and counts["neutral"] == truth["neu"]
    assert counts["sadness"] == truth["sad"]


def test_iemocap_missing_wav_is_reported_and_left_out(tmp_path):
    gone = "Ses02F_impro01_M001"
    root = make_iemocap(tmp_path / "iemocap", sessions=(1, 2), per_speaker=6, missing=[gone])
    with pytest.raises(EmocircError, match=f"{gone}.wav: audio file not found"):
        load_corpus(root, keep_other=True)
    df = load_corpus(root, keep_other=True, skip_bad=True)
    assert gone not in set(df["id"])
    assert len(df) == len(iemocap_utterances((1, 2), 6)) - 1
    (problem,) = df.attrs["problems"]
    assert problem.startswith(gone) and "not found" in problem and "left out" in problem
    with pytest.raises(EmocircError, match=gone):
        load_corpus(root, keep_other=True, strict=True, skip_bad=True)


def test_iemocap_unknown_code_and_malformed_line(tmp_path):
    root = make_iemocap(tmp_path / "iemocap", sessions=(1,), per_speaker=2)
    txt = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    good = txt.read_text()
    txt.write_text(re.sub(r"(_[FM]\d{3}\t)\w+(\t\[)", r"\1joy\2", good, count=1))
    with pytest.raises(EmocircError, match=r"Ses01F_impro01\.txt:\d+: unknown IEMOCAP emotion code 'joy'"):
        load_corpus(root)
    txt.write_text(good + "[1.0 - oops]\tSes01F_impro01_F009\tneu\n")
    with pytest.raises(EmocircError, match=r"Ses01F_impro01\.txt:\d+: malformed IEMOCAP summary line"):
        load_corpus(root)


def test_iemocap_duplicate_summary_is_a_problem(tmp_path):
    root = make_iemocap(tmp_path / "iemocap", sessions=(1,), per_speaker=4)
    emo = root / "Session1" / "dialog" / "EmoEvaluation"
    line = next(x for x in (emo / "Ses01F_impro01.txt").read_text().splitlines() if x.startswith("["))
    (emo / "Ses01F_impro01_copy.txt").write_text(line + "\n")
    df = load_corpus(root, keep_other=True)
    assert df["id"].is_unique and len(df) == 8
    assert any("duplicate summary line" in p for p in df.attrs["problems"])


# --- CSV manifests -----------------------------------------------------------------------------------


def test_manifest_file_or_folder(tmp_path):
    csv = make_manifest(tmp_path / "other")
    for target in (csv, csv.parent):
        df = load_corpus(target)
        assert df.attrs["format"] == "csv" and df.attrs["problems"] == []
        assert len(df) == len(MANIFEST_ROWS)
        assert list(df.columns) == list(COLUMNS)
    row = df.set_index("id").loc["spk2_00"]
    assert row["path"] == str((tmp_path / "other" / "clips" / "spk2" / "spk2_00.wav").resolve())
    assert (row["label"], row["speaker"], row["valence"], row["arousal"]) == ("anger", "spk2", 1.5, 4.5)
    assert np.isnan(row["dominance"]) and row["gender"] == ""
    assert df.set_index("id").loc["spk1_01", "label"] == "happiness"
    assert np.isnan(df.set_index("id").loc["spk3_04", "valence"])
    assert dict(Counter(df["label"])) == {"anger": 3, "happiness": 3, "sadness": 3, "neutral": 3, "fear": 3}


def test_manifest_minimal_and_missing_file(tmp_path):
    rows = [{"path": "a.wav", "label": "neu"}, {"path": "sub/b.wav", "label": "sad"}]
    csv = make_manifest(tmp_path / "m", rows, missing=["sub/b.wav"], name="list.csv")
    with pytest.raises(EmocircError, match=r"sub/b\.wav: audio file not found"):
        load_corpus(csv)
    df = load_corpus(csv, skip_bad=True)
    assert df["id"].tolist() == ["a"] and df["speaker"].tolist() == ["unknown"]
    assert df.attrs["problems"][0].startswith("b: ")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("file,label\na.wav,sad\n", r"list\.csv: manifest lacks column\(s\) path"),
        ("path,label\na.wav,bliss\n", r"list\.csv:2: unknown emotion label 'bliss'"),
        ("path,label,arousal\na.wav,sad,high\n", r"list\.csv:2: arousal='high'; expected a number"),
        ("path,label\n", r"list\.csv: manifest has no rows"),
    ],
)
def test_manifest_errors(tmp_path, text, match):
    (tmp_path / "list.csv").write_text(text)
    write_clip(tmp_path / "a.wav")
    with pytest.raises(EmocircError, match=match):
        load_corpus(tmp_path / "list.csv")


def test_folder_without_manifest(tmp_path):
    with pytest.raises(EmocircError, match="no manifest.csv"):
        load_corpus(tmp_path, format="csv")


# --- detection, summaries, conversion ----------------------------------------------------------------


def test_detect_format(tmp_path):
    assert detect_format(make_emodb(tmp_path / "e")) == "emodb"
    assert detect_format(make_iemocap(tmp_path / "i", sessions=(1,), per_speaker=2)) == "iemocap"
    csv = make_manifest(tmp_path / "c")
    assert detect_format(csv) == detect_format(csv.parent) == "csv"
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmocircError, match=r"empty: cannot tell the corpus layout"):
        detect_format(tmp_path / "empty")
    with pytest.raises(EmocircError, match=r"absent: corpus not found"):
        load_corpus(tmp_path / "absent")
    with pytest.raises(EmocircError, match="format='wav'"):
        load_corpus(tmp_path / "e", format="wav")
    with pytest.raises(EmocircError, match="no IEMOCAP Session folders"):
        load_corpus(tmp_path / "e", format="iemocap")


def test_summary_has_exactly_the_issue_keys(tmp_path):
    root = make_iemocap(tmp_path / "i", sessions=(1,), per_speaker=4, missing=["Ses01F_impro01_F000"])
    df = load_corpus(root, skip_bad=True)
    info = summary(df)
    assert list(info) == ["format", "utterances", "labels", "speakers", "duration_s", "problems"]
    assert info["format"] == "iemocap" and info["utterances"] == len(df)
    assert info["labels"] == dict(Counter(df["label"]))
    assert list(info["labels"]) == label_order(df["label"])  # canonical order, not by count
    assert info["speakers"] == {"1F": 3, "1M": 3}  # 1F lost its missing wav, 1M its xxx
    assert info["duration_s"] == pytest.approx(df["duration"].sum(), abs=1e-3)
    assert len(info["problems"]) == 1
    text = describe(df)
    assert "per label:" in text and "per speaker:" in text and "problems: 1" in text
    assert "Ses01F_impro01_F000" in text


def test_to_hf_dataset_keeps_paths_as_strings(tmp_path):
    datasets = pytest.importorskip("datasets")
    df = load_corpus(make_emodb(tmp_path / "e"))
    ds = to_hf_dataset(df)
    assert ds.num_rows == len(df)
    assert ds.column_names == list(df.columns)
    assert ds.features["path"] == datasets.Value("string")  # no Audio feature: nothing decoded
    assert ds[0]["id"] == df["id"][0] and ds[0]["path"] == df["path"][0]
    assert ds[0]["duration"] == pytest.approx(df["duration"][0])
    back = ds.to_pandas()
    pd.testing.assert_series_equal(back["label"], df["label"], check_dtype=False)


def test_to_hf_dataset_without_datasets_says_which_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # as if the hf extra were not installed
    with pytest.raises(EmocircError, match=r"emocirc\[hf\]"):
        to_hf_dataset(pd.DataFrame({"id": ["a"], "path": ["/x/a.wav"]}))
