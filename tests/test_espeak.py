"""eSpeak NG driver: output format, determinism, and that its parameters act as documented."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc import espeak
from emocirc.errors import EmocircError
from emocirc.prosodic_baseline import f0_track

TEXT = "Der Lappen liegt auf dem Eisschrank."


def _median_f0(wave: np.ndarray, rate: int) -> float:
    return float(np.nanmedian(f0_track(wave.astype(float) / 32768.0, rate)))


def test_output_is_int16_speech_at_22050():
    wave, rate = espeak.synthesize(TEXT, voice="de+m3")
    assert rate == espeak.sample_rate() == 22050
    assert wave.dtype == np.int16 and wave.ndim == 1
    assert 1.0 < wave.size / rate < 5.0  # a short sentence
    assert np.sqrt(np.mean(wave.astype(float) ** 2)) > 300  # not silence


def test_same_call_same_samples_whatever_came_before():
    settings = espeak.EspeakSettings("de+f2", rate=190, pitch=60)
    first, _ = espeak.synthesize(TEXT, settings=settings)
    for voice in ("en-us+m1", "de+m4", "en-us+f3"):
        espeak.synthesize("Something different, spoken before.", voice=voice)
    again, _ = espeak.synthesize(TEXT, settings=settings)
    assert np.array_equal(first, again)


def test_rate_parameter_changes_duration():
    slow, _ = espeak.synthesize(TEXT, settings=espeak.EspeakSettings("de+m3", rate=110))
    fast, _ = espeak.synthesize(TEXT, settings=espeak.EspeakSettings("de+m3", rate=280))
    assert slow.size > 1.7 * fast.size


def test_pitch_parameter_and_variant_change_f0():
    low, rate = espeak.synthesize(TEXT, settings=espeak.EspeakSettings("de+m3", pitch=20))
    high, _ = espeak.synthesize(TEXT, settings=espeak.EspeakSettings("de+m3", pitch=85))
    female, _ = espeak.synthesize(TEXT, settings=espeak.EspeakSettings("de+f2", pitch=50))
    male, _ = espeak.synthesize(TEXT, settings=espeak.EspeakSettings("de+m3", pitch=50))
    assert _median_f0(high, rate) > 1.4 * _median_f0(low, rate)
    assert _median_f0(female, rate) > 1.3 * _median_f0(male, rate)


def test_range_parameter_widens_pitch_range():
    def spread(r: int) -> float:
        wave, rate = espeak.synthesize(TEXT, settings=espeak.EspeakSettings("de+m3", range=r))
        f0 = f0_track(wave.astype(float) / 32768.0, rate)
        semis = 12 * np.log2(f0[~np.isnan(f0)])
        return float(np.percentile(semis, 90) - np.percentile(semis, 10))

    assert spread(95) > 2.0 * spread(10)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"rate": 10}, "rate=10"), ({"pitch": 101}, "pitch=101"), ({"volume": -1}, "volume=-1")],
)
def test_bad_parameter_names_value_and_range(kwargs, fragment):
    with pytest.raises(EmocircError, match=fragment) as err:
        espeak.EspeakSettings("de", **kwargs)
    assert "expected an integer in" in str(err.value)


def test_unknown_voice_and_empty_text_raise():
    with pytest.raises(EmocircError, match="no-such-voice"):
        espeak.synthesize(TEXT, voice="no-such-voice")
    with pytest.raises(EmocircError, match="expected some words"):
        espeak.synthesize("   ", voice="de")


def test_version_is_a_version_string():
    assert espeak.version().split(".")[0].isdigit()


def test_phoneme_segments_tile_the_output_and_leave_the_samples_unchanged():
    text = "Judge the measure, then think of the boy's house."
    wave, rate, segments = espeak.synthesize_phonemes(text, voice="en-us+m3")
    assert np.array_equal(wave, espeak.synthesize(text, voice="en-us+m3")[0])
    assert segments[0][0] == 0 and segments[-1][1] == wave.size
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:], strict=False))
    assert all(end > start for start, end, _ in segments)
    phones = [p for _, _, p in segments]
    assert {"dʒ", "ʒ", "θ", "ð", "ɔɪ", "aʊ"} <= set(phones)
    assert not any("ˈ" in p or "ˌ" in p for p in phones)  # stress marks are not phonemes


def test_phoneme_times_follow_the_audio():
    text = "Seven sisters, a pause, and seven more."
    wave, rate, segments = espeak.synthesize_phonemes(text, voice="en-us+m3")
    x = wave.astype(float)

    def rms(start: int, end: int) -> float:
        return float(np.sqrt(np.mean(x[start:end] ** 2)))

    pauses = [(s, e) for s, e, p in segments[1:-1] if p == espeak.SILENCE and e - s > 0.05 * rate]
    vowels = [(s, e) for s, e, p in segments if p in ("ɛ", "ɪ", "ə", "ɔː", "ɑː", "eɪ")]
    assert pauses and vowels  # the commas give pauses
    assert max(rms(s, e) for s, e in pauses) < 0.1 * np.median([rms(s, e) for s, e in vowels])
    # A slower rate lengthens the same phonemes.
    _, _, slow = espeak.synthesize_phonemes(text, settings=espeak.EspeakSettings("en-us+m3", rate=100))
    _, _, fast = espeak.synthesize_phonemes(text, settings=espeak.EspeakSettings("en-us+m3", rate=300))
    assert [p for *_, p in slow if p != espeak.SILENCE] == [p for *_, p in fast if p != espeak.SILENCE]
    speech = [sum(e - s for s, e, p in segs if p != espeak.SILENCE) for segs in (slow, fast)]
    assert speech[0] > 1.7 * speech[1]
