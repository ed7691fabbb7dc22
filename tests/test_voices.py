"""Voice allocation: the embedded corpora never share an eSpeak variant (nor a family of near-copies)."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc import diary, espeak, synth, voices
from emocirc.errors import EmocircError
from emocirc.prosodic_baseline import f0_track


def _variant(voice: str) -> str:
    assert "+" in voice, voice
    return voice.split("+", 1)[1]


def _diary_variants() -> set[str]:
    """Every variant the diary can speak with: its default voice and, where diary.py hands out
    several persons' voices (``diary_voices(n)``), all of them."""
    found = (
        {_variant(diary.DIARY_VOICE)}
        | set(voices.voices_for("diary", "F"))
        | set(voices.voices_for("diary", "M"))
    )
    many = getattr(diary, "diary_voices", None)
    for n in range(1, 50) if many else ():
        try:
            found |= {_variant(v) for v, _ in many(n)}
        except EmocircError:
            break
    return found


def _used() -> dict[str, set[str]]:
    """The variants each corpus's generator actually speaks with."""
    from emocirc import readspeech

    return {
        "iemocap": {_variant(v) for pair in synth.IEMOCAP_VOICES.values() for v in pair},
        "emodb": {_variant(v) for v in synth.EMODB_VOICES.values()},
        "readspeech": {_variant(s.voice) for s in readspeech.readspeech_speakers(n_speakers=200)},
        "diary": _diary_variants(),
    }  # fmt: skip


def test_every_shipped_variant_is_listed_once():
    table = voices.allocation()
    shipped = sorted(p.name for p in voices.variants_dir().iterdir() if p.is_file())
    assert sorted(table["name"]) == shipped and len(shipped) > 50
    assert set(table["gender"]) == {"F", "M"}
    assert set(table["corpus"]) == {*voices.CORPORA, ""}
    assert set(table.loc[table["corpus"] == "", "name"]) >= {"whisper", "whisperf", "fast"}


def test_corpora_share_no_variant_and_no_family():
    used = _used()
    family_of = dict(zip(voices.allocation()["name"], voices.allocation()["family"], strict=True))
    names = list(used)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not used[a] & used[b], (a, b, used[a] & used[b])
            fam_a, fam_b = {family_of[v] for v in used[a]}, {family_of[v] for v in used[b]}
            assert not fam_a & fam_b, (a, b, fam_a & fam_b)
    # Each corpus speaks only with what the allocation gave it.
    table = voices.allocation()
    for corpus, variants in used.items():
        assert variants <= set(table.loc[table["corpus"] == corpus, "name"]), corpus


def test_emotional_corpora_get_what_they_need_with_the_right_genders():
    from emocirc.corpora.emodb import SPEAKERS as EMODB_SPEAKERS

    gender = dict(zip(voices.allocation()["name"], voices.allocation()["gender"], strict=True))
    for code, voice in synth.EMODB_VOICES.items():
        assert gender[_variant(voice)] == EMODB_SPEAKERS[code], code
    for female, male in synth.IEMOCAP_VOICES.values():
        assert (gender[_variant(female)], gender[_variant(male)]) == ("F", "M")
    assert len(set(synth.EMODB_VOICES.values())) == 10
    assert len({v for pair in synth.IEMOCAP_VOICES.values() for v in pair}) == 10
    for g in ("F", "M"):
        assert len(voices.voices_for("diary", g)) == 3
    persons = voices.diary_persons()
    assert [g for _, g in persons] == ["F", "M"] * 3 and diary.DIARY_VOICE == f"en+{persons[0][0]}"
    # IEMOCAP kept its voices of before the allocation, so its audio did not change.
    assert synth.IEMOCAP_VOICES[4] == ("en-us+f4", "en-us+m5")


def test_declared_genders_match_the_measured_pitch():
    # Median F0 with American English: female variants above 150 Hz, male ones below.
    table = voices.allocation()
    used = table[table["corpus"] != ""]
    for name, gender in zip(used["name"], used["gender"], strict=True):
        wave, rate = espeak.synthesize("We were away a year ago.", voice=f"en-us+{name}")
        f0 = float(np.nanmedian(f0_track(wave.astype(float) / 32768.0, rate)))
        assert (f0 > 150) == (gender == "F"), (name, gender, round(f0))


def test_voices_for_rejects_bad_requests():
    with pytest.raises(EmocircError, match="'timit'"):
        voices.voices_for("timit", "F")
    with pytest.raises(EmocircError, match="gender 'X'"):
        voices.voices_for("emodb", "X")
    with pytest.raises(EmocircError, match="n=6"):
        voices.voices_for("emodb", "F", 6)
    assert voices.voices_for("iemocap", "F", 2) == ("f1", "f2")
