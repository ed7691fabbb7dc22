"""Tests of emocirc.vad: silero and energy detectors, the fallback, torch's thread settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emocirc import vad
from emocirc.audio import SAMPLE_RATE as SR
from emocirc.errors import EmocircError

needs_silero = pytest.mark.skipif(not vad.silero_available(), reason="silero-vad not installed")
ROOT = Path(__file__).resolve().parent.parent


def _speech_with_pauses(seed=0):
    """Five eSpeak utterances separated by 1 s of faint noise; returns the signal and the true segments."""
    from emocirc.diary import espeak_synthesizer

    speak = espeak_synthesizer(seed=seed)
    rng = np.random.default_rng(seed)
    parts, truth, pos = [np.zeros(SR // 2, np.float32)], [], SR // 2
    for label in ("neutral", "anger", "sadness", "happiness", "boredom"):
        utt = speak(label, rng)
        parts += [utt, np.zeros(SR, np.float32)]
        truth.append((pos / SR, (pos + len(utt)) / SR))
        pos += len(utt) + SR
    x = np.concatenate(parts)
    x += rng.normal(0, 1e-3, len(x)).astype(np.float32)
    return x, np.array(truth)


@needs_silero
def test_silero_finds_the_utterances_and_not_the_pauses():
    x, truth = _speech_with_pauses()
    seg = vad.speech_segments(x, method="silero")
    assert vad.speech_seconds(seg) == pytest.approx(vad.speech_seconds(truth), rel=0.3)
    # Every detected second lies in (or within 0.3 s of) an utterance; every utterance is found.
    inside = vad.speech_fraction(truth + [[-0.3, 0.3]], seg)
    assert (inside > 0.9).all(), inside
    assert (vad.speech_fraction(seg, truth) > 0.5).all()
    # A pure tone and faint noise are not speech to silero (the energy gate hears the tone).
    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(3 * SR) / SR).astype(np.float32)
    assert vad.speech_seconds(vad.speech_segments(tone, method="silero")) < 0.5
    assert vad.speech_seconds(vad.speech_segments(tone, method="energy")) > 2.5


@needs_silero
def test_silero_import_and_use_leave_torch_threads_alone():
    # A fresh interpreter: silero-vad's import sets torch.set_num_threads(1) at module level.
    code = textwrap.dedent(
        """
        import numpy as np, torch
        torch.set_num_threads(3)
        inter = torch.get_num_interop_threads()
        from emocirc import vad
        vad.speech_segments(np.zeros(16000, np.float32), method="silero")
        import silero_vad  # already imported: must not have changed anything either
        print(torch.get_num_threads(), torch.get_num_interop_threads() == inter)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "True"]


def test_keep_torch_threads_restores_after_an_error():
    import torch

    before = torch.get_num_threads()
    with pytest.raises(ValueError), vad.keep_torch_threads():
        torch.set_num_threads(1)
        raise ValueError("x")
    assert torch.get_num_threads() == before


def test_fallback_to_energy_when_silero_is_missing(monkeypatch):
    monkeypatch.setattr(vad, "silero_available", lambda: False)
    assert vad.resolve_vad("auto") == "energy"
    with pytest.raises(EmocircError, match="silero-vad package is not installed"):
        vad.resolve_vad("silero")
    with pytest.raises(EmocircError, match="'webrtc'"):
        vad.resolve_vad("webrtc")
    x = np.zeros(3 * SR, np.float32)
    x[SR : 2 * SR] = 0.3 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR)
    seg = vad.speech_segments(x, method="auto")
    np.testing.assert_allclose(seg, [[1.0, 2.0]])


def test_energy_gate_known_answers():
    assert vad.energy_segments(np.zeros(2 * SR, np.float32)).shape == (0, 2)
    faint = np.random.default_rng(0).normal(0, 1e-4, 2 * SR).astype(np.float32)
    assert vad.energy_segments(faint).shape == (0, 2)
    assert vad.energy_segments(np.zeros(10, np.float32)).shape == (0, 2)
    x = np.zeros(4 * SR, np.float32)
    x[: SR // 2] = x[3 * SR :] = 0.1
    np.testing.assert_allclose(vad.energy_segments(x), [[0.0, 0.5], [3.0, 4.0]])


def test_speech_fraction_and_seconds():
    seg = np.array([[0.0, 1.0], [2.0, 2.5]])
    assert vad.speech_seconds(seg) == 1.5 and vad.speech_seconds(np.zeros((0, 2))) == 0.0
    frac = vad.speech_fraction(seg, [(0.0, 1.0), (0.5, 2.5), (3.0, 4.0)])
    assert frac.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert vad.speech_fraction(np.zeros((0, 2)), [(0.0, 1.0)]).tolist() == [0.0]


@needs_silero
def test_silero_batch_equals_one_at_a_time():
    x, _ = _speech_with_pauses(seed=1)
    short = x[: 3 * SR]
    batch = vad.speech_segments_many([x, np.zeros(0, np.float32), short], method="silero")
    assert batch[1].shape == (0, 2)
    for one, signal in ((batch[0], x), (batch[2], short)):
        np.testing.assert_allclose(one, vad.speech_segments(signal, method="silero"))
    with pytest.raises(EmocircError, match="8000 Hz"):
        vad.silero_segments([x], sample_rate=8000)
