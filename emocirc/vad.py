"""Voice activity detection: which stretches of a recording hold speech.

Two detectors, one interface (:func:`speech_segments`):

- ``"silero"``: the Silero VAD network (package ``silero-vad``, MIT; its
  wheel ships the model, so it runs offline).  It is imported on first use
  only, because importing it calls ``torch.set_num_threads(1)`` for the
  whole process; :func:`silero_model` puts torch's thread settings back.
- ``"energy"``: a level gate (frames within ``threshold_db`` of the
  recording's loudest), kept as the fallback where silero-vad is not
  installed.  It hears any loud sound as speech.

``"auto"`` (the default) means silero where it is installed, else energy;
:func:`resolve_vad` says which one a run will use, so that outputs can name
it.  Segments are ``(start, end)`` in seconds; :func:`speech_fraction` says
how much of each analysis window they cover.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from emocirc.audio import SAMPLE_RATE
from emocirc.errors import EmocircError

#: The detectors :func:`speech_segments` knows.
VAD_METHODS = ("auto", "silero", "energy")


def silero_available() -> bool:
    """Whether the ``silero-vad`` package is installed (without importing it).

    Examples
    --------
    >>> isinstance(silero_available(), bool)
    True
    """
    return importlib.util.find_spec("silero_vad") is not None


def resolve_vad(method: str = "auto") -> str:
    """The detector a run with ``method`` uses: ``"silero"`` or ``"energy"``.

    Examples
    --------
    >>> resolve_vad("energy")
    'energy'
    >>> resolve_vad("auto") in ("silero", "energy")
    True
    """
    if method not in VAD_METHODS:
        raise EmocircError(f"voice activity detector {method!r}: expected one of {', '.join(VAD_METHODS)}")
    if method == "auto":
        return "silero" if silero_available() else "energy"
    if method == "silero" and not silero_available():
        raise EmocircError(
            "voice activity detector 'silero': the silero-vad package is not installed "
            "(pip install silero-vad), or pass 'energy'"
        )
    return method


@contextlib.contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Restore torch's intra- and inter-op thread counts after the block (silero-vad's import changes them).

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with keep_torch_threads():
    ...     torch.set_num_threads(1)
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    threads, interop = torch.get_num_threads(), torch.get_num_interop_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if torch.get_num_interop_threads() != interop:
            # Settable only before inter-op work has started; silero-vad does not change it today.
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(interop)


@functools.lru_cache(maxsize=1)
def _silero() -> tuple[Any, Any]:
    with keep_torch_threads(), warnings.catch_warnings():
        # silero-vad's loader uses importlib.resources.path and torch.jit.load, both deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        from silero_vad import get_speech_timestamps, load_silero_vad

        model = load_silero_vad()
    return model, get_speech_timestamps


def silero_model() -> Any:
    """The Silero VAD model (TorchScript, CPU), loaded once; torch's thread settings left as they were.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> _ = silero_model() if silero_available() else None
    >>> torch.get_num_threads() == before
    True
    """
    return _silero()[0]


def silero_segments(
    signals: Sequence[np.ndarray],
    sample_rate: int = SAMPLE_RATE,
    threshold: float = 0.5,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.1,
    batch_size: int = 64,
) -> list[np.ndarray]:
    """Speech segments found by Silero VAD in each signal, ``(n, 2)`` seconds each.

    The signals (mono float at 16 kHz) run through the network side by
    side, as one batch of streams (padded with silence to the longest),
    which is many times faster than one recording after another; the
    per-chunk speech probabilities are then turned into segments by
    silero-vad's own rule (``threshold``, ``min_speech_s``,
    ``min_silence_s``).  The network runs on one torch thread: its steps are
    too small to share, and on a busy machine sharing them costs more than
    it saves.
    """
    import torch

    if sample_rate != 16000:
        raise EmocircError(f"silero VAD at {sample_rate} Hz: expected 16000 Hz audio")
    model, _ = _silero()
    from silero_vad import get_speech_timestamps_from_probs

    chunk = 512
    out: list[np.ndarray] = [np.zeros((0, 2))] * len(signals)
    order = sorted(range(len(signals)), key=lambda i: len(signals[i]))
    with keep_torch_threads(), torch.inference_mode():
        torch.set_num_threads(1)
        for g in range(0, len(order), batch_size):
            group = order[g : g + batch_size]
            longest = max(len(signals[i]) for i in group)
            if longest == 0:
                continue
            n_chunks = -(-longest // chunk)
            batch = np.zeros((len(group), n_chunks * chunk), dtype=np.float32)
            for row, i in enumerate(group):
                batch[row, : len(signals[i])] = signals[i]
            audio = torch.from_numpy(batch)
            model.reset_states()
            probs = torch.cat(
                [model(audio[:, k * chunk : (k + 1) * chunk], sample_rate) for k in range(n_chunks)], dim=1
            ).numpy()
            for row, i in enumerate(group):
                n = len(signals[i])
                if n == 0:
                    continue
                stamps = get_speech_timestamps_from_probs(
                    probs[row, : -(-n // chunk)].tolist(),
                    sampling_rate=sample_rate,
                    threshold=threshold,
                    min_speech_duration_ms=int(min_speech_s * 1000),
                    min_silence_duration_ms=int(min_silence_s * 1000),
                    audio_length_samples=n,
                )
                if stamps:
                    out[i] = np.array([[st["start"], st["end"]] for st in stamps], dtype=float) / sample_rate
        model.reset_states()
    return out


def energy_segments(
    signal: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    threshold_db: float = -35.0,
    frame_s: float = 0.02,
    floor_db: float = -55.0,
) -> np.ndarray:
    """Speech segments of a level gate, ``(n, 2)`` seconds: runs of loud 20 ms frames.

    A frame is active when its level is within ``threshold_db`` of the
    recording's loudest frames (95th percentile) and above ``floor_db``
    (dB re full scale), so that a recording of faint noise alone holds no
    speech.

    Examples
    --------
    >>> sr = 1000
    >>> x = np.zeros(4 * sr, dtype=np.float32)
    >>> x[2 * sr:3 * sr] = np.sin(np.arange(sr) * 0.3)
    >>> energy_segments(x, sample_rate=sr).round(2).tolist()
    [[2.0, 3.0]]
    """
    frame = max(1, int(frame_s * sample_rate))
    n_frames = len(signal) // frame
    if n_frames == 0:
        return np.zeros((0, 2))
    frames = np.asarray(signal[: n_frames * frame], dtype=np.float64).reshape(n_frames, frame)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    active = (level > np.percentile(level, 95) + threshold_db) & (level > floor_db)
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return np.stack([starts, ends], axis=1).astype(float) * frame / sample_rate


def speech_segments(signal: np.ndarray, sample_rate: int = SAMPLE_RATE, method: str = "auto") -> np.ndarray:
    """Speech segments of a recording, ``(n, 2)`` seconds, by :func:`resolve_vad` ``(method)``.

    Examples
    --------
    >>> x = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    >>> speech_segments(x, method="energy").shape
    (0, 2)
    """
    return speech_segments_many([signal], sample_rate, method)[0]


def speech_segments_many(
    signals: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE, method: str = "auto"
) -> list[np.ndarray]:
    """:func:`speech_segments` of several recordings at once (silero runs them as one batch).

    Examples
    --------
    >>> x = np.zeros(SAMPLE_RATE, dtype=np.float32)
    >>> [s.shape for s in speech_segments_many([x, x], method="energy")]
    [(0, 2), (0, 2)]
    """
    chosen = resolve_vad(method)
    signals = [np.asarray(x, dtype=np.float32).ravel() for x in signals]
    if chosen == "silero":
        return silero_segments(signals, sample_rate)
    return [energy_segments(x, sample_rate) for x in signals]


def speech_seconds(segments: np.ndarray) -> float:
    """Total length of speech segments, in seconds.

    Examples
    --------
    >>> speech_seconds(np.array([[0.5, 1.0], [2.0, 3.5]]))
    2.0
    """
    segments = np.asarray(segments, dtype=float).reshape(-1, 2)
    return float(np.sum(np.clip(segments[:, 1] - segments[:, 0], 0, None)))


def speech_fraction(segments: np.ndarray, bounds: Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
    """Share of each window ``(start, end)`` (seconds) covered by the speech ``segments``.

    Examples
    --------
    >>> speech_fraction(np.array([[1.0, 2.0]]), [(0.0, 2.0), (2.0, 4.0), (1.5, 2.5)]).tolist()
    [0.5, 0.0, 0.5]
    """
    segments = np.asarray(segments, dtype=float).reshape(-1, 2)
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 2)
    if len(bounds) == 0:
        return np.zeros(0)
    overlap = np.clip(
        np.minimum(bounds[:, None, 1], segments[None, :, 1])
        - np.maximum(bounds[:, None, 0], segments[None, :, 0]),
        0,
        None,
    ).sum(axis=1)
    length = np.clip(bounds[:, 1] - bounds[:, 0], 1e-9, None)
    return np.clip(overlap / length, 0.0, 1.0)
