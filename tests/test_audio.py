"""Tests of emocirc.audio: the one audio loader."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

from emocirc.audio import MIN_DURATION_S, AudioClippingWarning, audio_info, load_audio
from emocirc.errors import EmocircError


def _tone(freq: float, sr: int, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


def test_int16_is_scaled_to_unit_range(tmp_path):
    ints = np.array([0, 16384, -16384, 32767, -32768] * 400, dtype=np.int16)
    sf.write(tmp_path / "x.wav", ints, 16000, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioClippingWarning)
        x = load_audio(tmp_path / "x.wav")
    assert x.dtype == np.float32 and x.ndim == 1 and len(x) == len(ints)
    np.testing.assert_allclose(x, ints / 32768.0, atol=1e-7)
    assert x.max() <= 1.0 and x.min() >= -1.0


@pytest.mark.parametrize("subtype", ["PCM_24", "PCM_32", "PCM_U8"])
def test_other_integer_widths_are_scaled(tmp_path, subtype):
    sf.write(tmp_path / "x.wav", _tone(220, 16000), 16000, subtype=subtype)
    x = load_audio(tmp_path / "x.wav")
    assert abs(float(np.max(np.abs(x))) - 0.5) < 0.02


def test_channels_are_averaged(tmp_path):
    left, right = np.full(3200, 0.6, dtype=np.float32), np.full(3200, -0.2, dtype=np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    x = load_audio(tmp_path / "st.wav")
    np.testing.assert_allclose(x, 0.2, atol=1e-6)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled_preserving_pitch(tmp_path, sr):
    sf.write(tmp_path / "r.wav", _tone(440, sr), sr, subtype="PCM_16")
    x = load_audio(tmp_path / "r.wav")
    assert abs(len(x) - 8000) <= 1
    assert abs(_peak_hz(x, 16000) - 440) < 4
    assert abs(float(np.max(np.abs(x[1000:-1000]))) - 0.5) < 0.03


def test_target_sr_argument(tmp_path):
    sf.write(tmp_path / "r.wav", _tone(440, 16000), 16000)
    x = load_audio(tmp_path / "r.wav", target_sr=8000)
    assert len(x) == 4000 and abs(_peak_hz(x, 8000) - 440) < 4
    with pytest.raises(EmocircError, match="target_sr"):
        load_audio(tmp_path / "r.wav", target_sr=0)


def test_flac_is_read(tmp_path):
    sf.write(tmp_path / "a.flac", _tone(300, 16000), 16000)
    assert len(load_audio(tmp_path / "a.flac")) == 8000


def test_clipping_warns_but_loads(tmp_path):
    sf.write(tmp_path / "hot.wav", _tone(200, 16000, amp=1.5), 16000, subtype="FLOAT")
    with pytest.warns(AudioClippingWarning, match="hot.wav"):
        x = load_audio(tmp_path / "hot.wav")
    assert float(np.max(x)) > 1.0  # warned, not silently altered
    sf.write(tmp_path / "ok.wav", _tone(200, 16000, amp=0.5), 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(tmp_path / "ok.wav")


def test_missing_file(tmp_path):
    with pytest.raises(EmocircError, match=r"nope\.wav.*not found"):
        load_audio(tmp_path / "nope.wav")


def test_non_audio_and_empty_files(tmp_path):
    (tmp_path / "text.wav").write_text("this is not audio at all, just text " * 20)
    (tmp_path / "empty.wav").write_bytes(b"")
    for name in ("text.wav", "empty.wav"):
        with pytest.raises(EmocircError, match=rf"{name}.*unreadable audio"):
            load_audio(tmp_path / name)


def test_truncated_files(tmp_path):
    sf.write(tmp_path / "full.wav", _tone(200, 16000), 16000, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut_header.wav").write_bytes(data[:30])
    (tmp_path / "cut_data.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(EmocircError, match=r"cut_header\.wav"):
        load_audio(tmp_path / "cut_header.wav")
    with pytest.raises(EmocircError, match=r"cut_data\.wav: truncated"):
        load_audio(tmp_path / "cut_data.wav")
    with pytest.raises(EmocircError, match="truncated"):
        audio_info(tmp_path / "cut_data.wav")


def test_zero_samples_and_too_short(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(EmocircError, match=r"zero\.wav.*zero samples"):
        load_audio(tmp_path / "zero.wav")
    sf.write(tmp_path / "short.wav", np.zeros(int(16000 * 0.05), dtype=np.float32), 16000)
    with pytest.raises(EmocircError, match=rf"short\.wav.*at least {MIN_DURATION_S}"):
        load_audio(tmp_path / "short.wav")
    # The limit is on the clip, whatever its rate: 0.1 s at 8 kHz is enough.
    sf.write(tmp_path / "ok8k.wav", np.zeros(800, dtype=np.float32), 8000)
    assert len(load_audio(tmp_path / "ok8k.wav")) == 1600


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    x = _tone(200, 16000)
    x[100] = bad
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(EmocircError, match=r"nan\.wav.*NaN or infinite"):
        load_audio(tmp_path / "nan.wav")


def test_audio_info_reads_header_only(tmp_path, monkeypatch):
    sf.write(tmp_path / "a.wav", np.zeros((4410, 2), dtype=np.float32), 44100)

    def no_decoding(*args, **kwargs):
        raise AssertionError("audio_info must not decode samples")

    monkeypatch.setattr(sf, "read", no_decoding)
    info = audio_info(tmp_path / "a.wav")
    assert (info.sample_rate, info.frames, info.channels) == (44100, 4410, 2)
    assert info.duration == pytest.approx(0.1)
