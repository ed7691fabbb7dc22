"""The embedded read-speech corpus: texts, speakers, files, alignments that match the audio, cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emocirc import espeak, readspeech, synth, voices
from emocirc.backbones import builtin_config
from emocirc.errors import EmocircError
from emocirc.frames import frame_counts
from emocirc.provenance import is_synthetic

SCALE = 0.01  # 4 speakers x 6 utterances

pytestmark = pytest.mark.usefixtures("emocirc_cache")

#: English phonemes in eSpeak NG's IPA (American English): 24 consonants and the main vowels.
ENGLISH_US = {
    "p", "b", "t", "d", "k", "ɡ", "f", "v", "θ", "ð", "s", "z", "ʃ", "ʒ", "h", "tʃ", "dʒ", "m", "n", "ŋ",
    "l", "ɹ", "w", "j",
    "iː", "ɪ", "eɪ", "ɛ", "æ", "ɑː", "ɔː", "oʊ", "ʊ", "uː", "ʌ", "ə", "ɚ", "ɜː", "aɪ", "aʊ", "ɔɪ",
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return synth.synthesize_readspeech(tmp_path_factory.mktemp("rs") / "rs", seed=0, scale=SCALE, jobs=1)


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_vocabulary_covers_the_phonemes_of_english():
    v = readspeech.VOCABULARY
    words = [*v["noun"], *v["adjective"], *v["name"], *v["adverb"], *v["preposition"], *v["determiner"]]
    words += [w for pair in (*v["transitive"], *v["intransitive"]) for w in pair]
    _, _, segments = espeak.synthesize_phonemes(", ".join(words) + ".", voice="en-us")
    found = {p for *_, p in segments}
    assert ENGLISH_US <= found, sorted(ENGLISH_US - found)


def test_sentences_are_varied_deterministic_and_grammar_shaped():
    rng = np.random.default_rng(0)
    texts = [readspeech.utterance_text(rng) for _ in range(300)]
    assert len(set(texts)) == 300
    assert all(t[0].isupper() and t[-1] in ".?" for t in texts)
    assert " a a" not in " ".join(texts) and " a old" not in " ".join(texts)  # articles agree
    lengths = [len(t.split()) for t in texts]
    assert min(lengths) >= 3 and np.mean(lengths) > 7
    assert readspeech.sentence(np.random.default_rng(3)) == readspeech.sentence(np.random.default_rng(3))


def test_speakers_use_only_this_corpus_variants_and_several_accents():
    speakers = readspeech.readspeech_speakers(n_speakers=120)
    own = set(voices.voices_for("readspeech", "F")) | set(voices.voices_for("readspeech", "M"))
    assert {s.voice.split("+")[1] for s in speakers} == own
    assert len({s.voice for s in speakers}) == 120  # a returning variant has another accent
    assert {s.voice.split("+")[0] for s in speakers} == set(readspeech.ACCENTS)
    assert {s.gender for s in speakers[:20]} == {"F", "M"}
    for accent in readspeech.ACCENTS:  # every accent is a voice eSpeak knows
        espeak.synthesize("yes", voice=accent)
    with pytest.raises(EmocircError, match="n_speakers=0"):
        readspeech.readspeech_speakers(n_speakers=0)


def test_layout_audio_and_manifest(corpus):
    df = readspeech.load_readspeech(corpus)
    assert len(df) == 24 and df["speaker"].nunique() == 4
    assert sorted(p.name for p in corpus.iterdir() if p.is_dir()) == sorted(df["speaker"].unique())
    for path in df["path"][:6]:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 0.8 < info.duration < 15
    assert (df["text"].str.len() > 10).all()
    assert is_synthetic(corpus) and readspeech.MANIFEST == synth.MANIFEST


def test_alignment_has_one_row_per_wav2vec2_frame_and_matches_the_words(corpus):
    df = readspeech.load_readspeech(corpus)
    config = builtin_config("base-random")
    for path, phones, text in zip(df["path"], df["phones"], df["text"], strict=True):
        wave, rate = sf.read(path)
        table = readspeech.read_alignment(phones)
        assert len(table) == frame_counts(config, [len(wave)])[0]
        assert np.allclose(np.diff(table["start"]), 0.02)
        assert table["phone"].iloc[0] == espeak.SILENCE and table["phone"].iloc[-1] == espeak.SILENCE
        # The phoneme sequence is eSpeak's for the text (frames repeat a phoneme; short ones may fall between).
        _, _, ref = espeak.synthesize_phonemes(text, voice=df.loc[df["path"] == path, "voice"].iloc[0])
        sequence = [p for *_, p in ref if p != espeak.SILENCE]
        framed = [p for p in table["phone"] if p != espeak.SILENCE]
        collapsed = [p for i, p in enumerate(framed) if i == 0 or p != framed[i - 1]]
        it = iter(sequence)
        assert all(p in it for p in collapsed)  # a subsequence, in order
        assert len(set(collapsed)) >= 0.7 * len(set(sequence))


def test_silence_frames_are_quiet_and_speech_frames_are_not(corpus):
    df = readspeech.load_readspeech(corpus)
    quiet, loud = [], []
    for path, phones in zip(df["path"], df["phones"], strict=True):
        wave, _ = sf.read(path)
        table = readspeech.read_alignment(phones)
        for start, end, phone in zip(table["start"], table["end"], table["phone"], strict=True):
            rms = float(np.sqrt(np.mean(wave[int(start * 16000) : int(end * 16000)] ** 2)))
            (quiet if phone == espeak.SILENCE else loud).append(rms)
    assert np.median(quiet) < 0.1 * np.median(loud)


def test_same_seed_same_bytes_whatever_the_workers(corpus, tmp_path):
    again = synth.synthesize_readspeech(tmp_path / "again", seed=0, scale=SCALE, jobs=2)
    assert _digests(again) == _digests(corpus)
    other = synth.synthesize_readspeech(tmp_path / "other", seed=1, scale=SCALE, jobs=1)
    assert _digests(other) != _digests(corpus)


def test_ensure_corpus_caches_the_readspeech_kind(tmp_path, monkeypatch):
    root = synth.ensure_corpus("readspeech", scale=SCALE)
    assert root.name.startswith("readspeech-") and root.parent == tmp_path / "cache" / "corpora"
    monkeypatch.setattr(synth, "synthesize_readspeech", lambda *a, **k: pytest.fail("regenerated"))
    assert synth.ensure_corpus("readspeech", scale=SCALE) == root
    assert synth.corpus_key("readspeech", scale=SCALE) != synth.corpus_key("readspeech", scale=0.02)
    monkeypatch.setattr(readspeech, "TEXT_VERSION", "test")
    assert synth.corpus_key("readspeech", scale=SCALE) != root.name
    assert len(synth.speaker_profiles("readspeech")) == readspeech.readspeech_plan(1.0)[0]


def test_bad_inputs_name_the_value(tmp_path):
    with pytest.raises(EmocircError, match="scale 0"):
        readspeech.readspeech_plan(0)
    with pytest.raises(EmocircError, match="expected a read-speech corpus"):
        readspeech.load_readspeech(tmp_path)
    bad = tmp_path / "x.phones.tsv"
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(EmocircError, match="expected columns frame, start, end, phone"):
        readspeech.read_alignment(bad)
