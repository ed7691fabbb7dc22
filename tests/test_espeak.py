"""eSpeak NG driver: output format, determinism, and that its parameters act as documented."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc import espeak
from emocirc.errors import EmocircError
from emocirc.prosodic import f0_track

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
