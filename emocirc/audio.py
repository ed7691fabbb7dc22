"""Audio input and output: the project's one loader and its one WAV writer.

Every file that libsndfile reads (WAV, FLAC, OGG, ...) becomes a float32 mono
signal at 16 kHz: channels are averaged, integer PCM is scaled to [-1, 1] and
other sampling rates are resampled with soxr's polyphase resampler.  A file
that cannot be used raises :class:`~emocirc.errors.EmocircError` naming the
file and what was expected; clipping only warns, because a clipped recording
is still speech.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from emocirc.errors import EmocircError

#: Sampling rate of every signal handed to a backbone (wav2vec2 expects 16 kHz).
SAMPLE_RATE: int = 16_000

#: Shorter clips give wav2vec2's CNN (25 ms receptive field, 20 ms hop) too
#: few frames for a meaningful mean-pooled embedding.
MIN_DURATION_S: float = 0.1

# Samples at or above this magnitude count as clipped: 16-bit full scale is
# 32767/32768, so "within one LSB of full scale".
_CLIP_LEVEL = 1.0 - 2.0**-15

# libsndfile notes a WAV whose header promises more data than the file holds
# as "data : 32000 (should be 15978)"; it would otherwise silently read less.
_TRUNCATED = re.compile(r"data\s*:\s*(\d+)\s*\(should be (\d+)\)")
# Streaming writers leave these placeholder sizes in the header on purpose.
_STREAMING_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFF - 0xFF}


class AudioClippingWarning(UserWarning):
    """A loaded signal reaches full scale: the recording is probably clipped."""


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says, read without decoding it.

    Attributes
    ----------
    path : str
        The file.
    sample_rate : int
        Samples per second per channel.
    frames : int
        Samples per channel.
    channels : int
        Number of channels.
    duration : float
        Length in seconds (``frames / sample_rate``).
    """

    path: str
    sample_rate: int
    frames: int
    channels: int
    duration: float


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read an audio file's header (fast: no samples are decoded).

    Raises :class:`EmocircError` for a missing, unreadable, truncated or
    non-audio file.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, soundfile as sf
    >>> wav = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
    >>> sf.write(wav, np.zeros(8000, dtype="float32"), 16000)
    >>> info = audio_info(wav)
    >>> info.sample_rate, info.frames, info.duration
    (16000, 8000, 0.5)
    """
    path = Path(path)
    if not path.is_file():
        raise EmocircError(f"{path}: audio file not found (expected an existing audio file)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise EmocircError(
            f"{path}: unreadable audio ({_one_line(err)}); expected a file that libsndfile reads, e.g. WAV"
        ) from None
    match = _TRUNCATED.search(info.extra_info or "")
    if match:
        declared, actual = int(match.group(1)), int(match.group(2))
        if declared > actual and declared not in _STREAMING_SIZES:
            raise EmocircError(
                f"{path}: truncated audio file (header promises {declared} data bytes, "
                f"file holds {actual}); expected a complete file"
            )
    return AudioInfo(
        path=str(path),
        sample_rate=int(info.samplerate),
        frames=int(info.frames),
        channels=int(info.channels),
        duration=float(info.frames) / float(info.samplerate) if info.samplerate else 0.0,
    )


def load_audio(path: str | os.PathLike[str], target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Load an audio file as a float32 mono signal at ``target_sr`` Hz.

    Channels are averaged, integer PCM is scaled to [-1, 1] and other rates
    are resampled with soxr (high quality polyphase).  A signal reaching full
    scale emits :class:`AudioClippingWarning`.

    Parameters
    ----------
    path : str or path-like
        Any file libsndfile reads.
    target_sr : int, default 16000
        Sampling rate of the returned signal.

    Returns
    -------
    numpy.ndarray
        1-D float32 array.

    Raises
    ------
    EmocircError
        For a missing, unreadable, truncated or non-audio file, zero samples,
        a clip shorter than 0.1 s, or non-finite samples.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, soundfile as sf
    >>> wav = pathlib.Path(tempfile.mkdtemp()) / "stereo.wav"
    >>> stereo = np.stack([np.full(4410, 0.5), np.zeros(4410)], axis=1)
    >>> sf.write(wav, stereo, 44100, subtype="PCM_16")
    >>> x = load_audio(wav)
    >>> x.dtype, x.shape, round(float(x[800]), 3)
    (dtype('float32'), (1600,), 0.25)
    """
    if int(target_sr) <= 0:
        raise EmocircError(f"target_sr={target_sr!r}: expected a positive sampling rate in Hz")
    info = audio_info(path)
    if info.frames == 0:
        raise EmocircError(f"{path}: audio file has zero samples; expected at least {MIN_DURATION_S} s")
    if info.duration < MIN_DURATION_S:
        raise EmocircError(
            f"{path}: clip is {info.duration:.3f} s long; expected at least {MIN_DURATION_S} s of audio"
        )
    try:
        # float32 reading scales integer PCM by 1/2^(bits-1), i.e. into [-1, 1).
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise EmocircError(
            f"{path}: could not decode audio ({_one_line(err)}); expected a valid file"
        ) from None
    if data.shape[0] == 0:
        raise EmocircError(f"{path}: audio file has zero samples; expected at least {MIN_DURATION_S} s")
    signal = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(signal)):
        raise EmocircError(f"{path}: audio holds NaN or infinite samples; expected finite values")
    if float(np.max(np.abs(signal))) >= _CLIP_LEVEL:
        warnings.warn(
            f"{path}: signal reaches full scale, probably clipped", AudioClippingWarning, stacklevel=2
        )
    if sr != target_sr:
        signal = soxr.resample(signal, sr, int(target_sr), quality="HQ")
    return np.ascontiguousarray(signal, dtype=np.float32)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def write_wav(path: str | os.PathLike[str], wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a mono float signal in [-1, 1] as a 16-bit PCM WAV file, the way corpora ship them.

    The project's one writer (the synthetic corpora, the diary, the
    benchmarks).  Parent folders are created; the caller publishes the file
    atomically where that matters (the corpora are written inside an
    :func:`emocirc._io.atomic_dir`).  A signal that is not 1-D or holds NaN
    or infinity raises :class:`~emocirc.errors.EmocircError` naming the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_wav(pathlib.Path(tempfile.mkdtemp()) / "a" / "b.wav", np.zeros(160, "float32"))
    >>> audio_info(out).sample_rate, audio_info(out).frames
    (16000, 160)
    """
    path = Path(path)
    wave = np.asarray(wave)
    if wave.ndim != 1 or not np.all(np.isfinite(wave)):
        raise EmocircError(f"{path}: expected a finite 1-D signal to write, got shape {wave.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, int(sample_rate), subtype="PCM_16", format="WAV")
    return path
