"""Embedded synthetic corpora: real layouts, read by the real loaders, deterministic, atomic, cached."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emocirc import synth
from emocirc.cli import main
from emocirc.corpora import load_corpus
from emocirc.corpora.emodb import SPEAKERS as EMODB_SPEAKERS
from emocirc.errors import EmocircError
from emocirc.synthesis_rules import EMODB_EMOTIONS, SpeakerProfile

SCALE = 0.05  # 70 EMODB files, 60 IEMOCAP utterances

SUMMARY = re.compile(
    r"^\[\d+\.\d{4} - \d+\.\d{4}\]\tSes0[1-5][FM]_(impro0\d|script0\d_\d)_[FM]\d{3}\t"
    r"(neu|hap|exc|sad|ang|fru|sur|fea|dis|oth|xxx)\t\[[1-5]\.\d{4}, [1-5]\.\d{4}, [1-5]\.\d{4}\]$"
)
CATEGORICAL = re.compile(r"^C-(E\d|F1|M1):\t[A-Z][a-z]+;\t\(\)$")
ATTRIBUTE = re.compile(r"^A-E\d:\tval [1-5]; act [1-5]; dom  [1-5];\t\(\)$")


pytestmark = pytest.mark.usefixtures("emocirc_cache")


@pytest.fixture(scope="module")
def emodb_root(tmp_path_factory) -> Path:
    return synth.synthesize_emodb(tmp_path_factory.mktemp("emodb") / "emodb", seed=0, scale=SCALE, jobs=1)


@pytest.fixture(scope="module")
def iemocap_root(tmp_path_factory) -> Path:
    return synth.synthesize_iemocap(tmp_path_factory.mktemp("iemocap") / "iemocap", seed=0, scale=SCALE)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_emodb_layout_and_audio_format(emodb_root):
    wavs = sorted((emodb_root / "wav").glob("*.wav"))
    assert len(wavs) == 70 == 10 * len(EMODB_EMOTIONS)
    for path in wavs[:10]:
        assert re.fullmatch(r"(03|08|09|1[0-6])(a0[12457]|b0[1239]|b10)[WLEAFTN][a-z]\.wav", path.name)
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert 0.8 < info.duration < 8.0


def test_emodb_read_by_the_real_loader(emodb_root):
    df = load_corpus(emodb_root)
    assert df.attrs["format"] == "emodb" and df.attrs["problems"] == []
    assert len(df) == 70
    assert set(df["label"]) == set(EMODB_EMOTIONS)
    assert set(df["speaker"]) == set(EMODB_SPEAKERS)
    assert (df["gender"] == df["speaker"].map(EMODB_SPEAKERS)).all()
    assert df.groupby(["speaker", "label"]).size().eq(1).all()  # one sentence, one version at this scale
    # The file's emotion letter is the label the loader reports.
    letters = {v: k for k, v in synth.EMODB_LETTERS.items()}
    assert (df["id"].str[5] == df["label"].map(synth.EMODB_LETTERS)).all()
    assert set(letters) == set(df["id"].str[5])


def test_default_emodb_plan_is_1400_files():
    sentences, versions = synth.emodb_plan(scale=1.0)
    assert 10 * sentences * 7 * versions == 1400 and versions >= 2


def test_same_seed_is_byte_identical_whatever_the_workers(emodb_root, tmp_path):
    again = synth.synthesize_emodb(tmp_path / "again", seed=0, scale=SCALE, jobs=2)
    assert _digests(again) == _digests(emodb_root)
    other = synth.synthesize_emodb(tmp_path / "other", seed=1, scale=SCALE, jobs=1)
    wav = "wav/03a01Wa.wav"
    assert _digests(other)[wav] != _digests(emodb_root)[wav]


def test_iemocap_layout_matches_the_release(iemocap_root):
    sessions = sorted(p.name for p in iemocap_root.glob("Session*"))
    assert sessions == [f"Session{n}" for n in range(1, 6)]
    emo = iemocap_root / "Session1" / "dialog" / "EmoEvaluation"
    for sub in ("Categorical", "Attribute", "Self-evaluation"):
        assert any((emo / sub).iterdir()), sub
    assert list(emo.glob("._*.txt")), "the resource-fork decoy is missing"
    summaries = sorted(p for p in emo.glob("Ses*.txt"))
    assert summaries
    for path in summaries:
        lines = path.read_text().split("\n")
        assert lines[0] == "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
        blocks = [b.split("\n") for b in "\n".join(lines[1:]).strip().split("\n\n")]
        for block in blocks:
            assert SUMMARY.match(block[0]), block[0]
            assert all(CATEGORICAL.match(x) or ATTRIBUTE.match(x) for x in block[1:]), block
            assert sum(bool(ATTRIBUTE.match(x)) for x in block[1:]) == 2
            utt = block[0].split("\t")[1]
            wav = iemocap_root / "Session1" / "sentences" / "wav" / utt.rsplit("_", 1)[0] / f"{utt}.wav"
            assert wav.is_file(), wav
            start, end = map(float, re.findall(r"\d+\.\d{4}", block[0])[:2])
            assert abs(sf.info(wav).duration - (end - start)) < 1e-3


def test_iemocap_read_by_the_real_loader(iemocap_root):
    df = load_corpus(iemocap_root)
    assert df.attrs["format"] == "iemocap" and df.attrs["problems"] == []
    assert sorted(df["speaker"].unique()) == [f"{s}{g}" for s in range(1, 6) for g in "FM"]
    assert (df["speaker"].str[1] == df["id"].str[-4]).all()  # gender letter before the index
    assert (df["speaker"].str[0].astype(int) == df["session"]).all()
    assert {"neutral", "happiness", "excitement", "sadness", "anger"} <= set(df["label"])
    assert "other" not in set(df["label"])
    assert set(df["mode"]) == {"improvised", "scripted"}
    for col in ("valence", "arousal", "dominance"):
        assert df[col].between(1, 5).all() and df[col].nunique() > 3
    n_xxx = sum(
        line.split("\t")[2] == "xxx"
        for p in iemocap_root.glob("Session*/dialog/EmoEvaluation/Ses*.txt")
        for line in p.read_text().splitlines()
        if line.startswith("[")
    )
    assert n_xxx >= 5 and len(df) == 60 - n_xxx  # xxx ("no agreement") is dropped
    four = load_corpus(iemocap_root, four_class=True)
    assert set(four["label"]) == {"anger", "happiness", "sadness", "neutral"}
    assert len(four) < len(df)  # the four-class filter matters


def test_iemocap_arousal_ratings_follow_the_emotion(iemocap_root):
    df = load_corpus(iemocap_root)
    means = df.groupby("label")["arousal"].mean()
    assert means["anger"] > means["neutral"] > means["sadness"]
    assert df.groupby("label")["valence"].mean()["happiness"] > df.groupby("label")["valence"].mean()["anger"]


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "_write_metadata", fail)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize_emodb(tmp_path / "corpus", scale=SCALE, jobs=1)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(EmocircError, match="already exists"):
        synth.synthesize_emodb(out, scale=SCALE)
    synth.synthesize_emodb(out, scale=SCALE, overwrite=True, jobs=1)
    assert not (out / "keep.txt").exists() and len(list((out / "wav").iterdir())) == 70


def test_ensure_corpus_caches_and_keys_on_parameters(tmp_path, monkeypatch):
    root = synth.ensure_corpus("iemocap", seed=0, scale=SCALE)
    assert root.parent == tmp_path / "cache" / "corpora"
    calls = []
    monkeypatch.setattr(synth, "synthesize_iemocap", lambda *a, **k: calls.append(a))
    assert synth.ensure_corpus("iemocap", seed=0, scale=SCALE) == root and calls == []
    keys = {synth.corpus_key("iemocap", seed=0, scale=SCALE)}
    keys.add(synth.corpus_key("iemocap", seed=1, scale=SCALE))
    keys.add(synth.corpus_key("iemocap", seed=0, scale=0.1))
    monkeypatch.setattr(synth, "GENERATOR_VERSION", "test")
    keys.add(synth.corpus_key("iemocap", seed=0, scale=SCALE))
    assert len(keys) == 4
    with pytest.raises(EmocircError, match="'timit'"):
        synth.ensure_corpus("timit")


def test_utterance_is_a_function_of_its_rng():
    spk = SpeakerProfile("03", "M", "de+m1")
    a, pa = synth.synthesize_utterance("Guten Morgen.", "anger", spk, np.random.default_rng(5))
    b, pb = synth.synthesize_utterance("Guten Morgen.", "anger", spk, np.random.default_rng(5))
    c, _ = synth.synthesize_utterance("Guten Morgen.", "anger", spk, np.random.default_rng(6))
    assert np.array_equal(a, b) and pa == pb
    assert not (a.size == c.size and np.array_equal(a, c))
    assert a.dtype == np.float32 and np.abs(a).max() <= 1.0


def test_cli_writes_a_corpus_and_reports_bad_input_on_one_line(tmp_path, capsys):
    assert main(["synth", "emodb", str(tmp_path / "c"), "--scale", str(SCALE), "--jobs", "1"]) == 0
    assert "70 utterances" in capsys.readouterr().out
    assert main(["synth", "emodb", str(tmp_path / "d"), "--scale", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "scale 0.0" in err and "expected" in err
    assert main(["synth", "emodb", str(tmp_path / "c"), "--scale", str(SCALE)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_writes_the_read_speech_corpus_with_alignments(tmp_path, capsys):
    out = tmp_path / "rs"
    assert main(["synth", "readspeech", str(out), "--scale", "0.005", "--jobs", "1"]) == 0
    wavs = sorted(out.rglob("*.wav"))
    assert wavs and f"{len(wavs)} utterances" in capsys.readouterr().out
    assert all(w.with_name(w.stem + ".phones.tsv").is_file() for w in wavs)
