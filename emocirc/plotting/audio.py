"""Spectrograms: what an utterance looks like, with its pitch contour.

:func:`plot_spectrogram` draws one utterance, :func:`plot_spectrograms` a
grid of them (e.g. one sentence by one speaker in each emotion), titled in
each emotion's colour, with the F0 track of :func:`emocirc.prosodic_baseline.f0_track`
drawn over the harmonics.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.signal import stft

from emocirc.errors import EmocircError
from emocirc.plotting.style import FIGURE_WIDTH, emotion_color

#: Colour map of the spectrograms (dark = quiet).
SPECTROGRAM_CMAP = "magma"


def plot_spectrogram(
    wave: np.ndarray,
    sr: int = 16000,
    ax: Axes | None = None,
    title: str | None = None,
    emotion: str | None = None,
    f0: np.ndarray | None = None,
    max_freq: float = 3000.0,
    dynamic_range_db: float = 60.0,
) -> Figure:
    """Draw the log-magnitude spectrogram of one utterance.

    Parameters
    ----------
    wave : numpy.ndarray
        Mono signal.
    sr : int
        Sample rate in Hz.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    title : str, optional
        Axes title; coloured by ``emotion`` when that is given.
    emotion : str, optional
        Canonical emotion of the utterance (sets the title colour).
    f0 : numpy.ndarray, optional
        F0 per 10 ms frame (NaN where unvoiced), drawn as a line.
    max_freq : float
        Upper frequency shown, in Hz.
    dynamic_range_db : float
        Levels more than this far below the maximum are drawn black.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> t = np.arange(8000) / 16000
    >>> fig = plot_spectrogram(np.sin(2 * np.pi * 440 * t), title="tone", emotion="anger")
    >>> fig.axes[0].get_title(loc="left")
    'tone'
    """
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim != 1 or wave.size < 64:
        raise EmocircError(f"signal of shape {wave.shape}: expected a mono signal of at least 64 samples")
    if ax is None:
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 2.6))
    else:
        fig = ax.figure
    # 25 ms windows, 5 ms hop: fine enough in time to see syllables and in
    # frequency to see the harmonics of a speaking voice.
    nperseg = int(0.025 * sr)
    freqs, times, spec = stft(wave, fs=sr, nperseg=nperseg, noverlap=nperseg - int(0.005 * sr))
    level = 20.0 * np.log10(np.abs(spec) + 1e-10)
    top = level.max()
    keep = freqs <= max_freq
    # imshow rather than pcolormesh: hundreds of thin columns otherwise leave
    # white seams when rasterised.
    ax.imshow(
        level[keep],
        origin="lower",
        aspect="auto",
        extent=(times[0], times[-1], 0.0, float(freqs[keep][-1])),
        vmin=top - dynamic_range_db,
        vmax=top,
        cmap=SPECTROGRAM_CMAP,
        interpolation="nearest",
    )
    if f0 is not None:
        f0 = np.asarray(f0, dtype=float)
        ax.plot(0.02 + 0.01 * np.arange(f0.size), f0, ".", color="#00e5ff", ms=1.5, label="F0")
    ax.set_ylim(0, max_freq)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.grid(False)
    if title is not None:
        ax.set_title(title, color=emotion_color(emotion) if emotion else None, loc="left")
    return fig


def plot_spectrograms(
    examples: Mapping[str, np.ndarray],
    sr: int = 16000,
    ncols: int = 2,
    show_f0: bool = True,
    max_freq: float = 3000.0,
    suptitle: str | None = None,
) -> Figure:
    """Draw a grid of spectrograms, one per emotion, sharing the time axis.

    Parameters
    ----------
    examples : mapping of str to numpy.ndarray
        Emotion -> signal (all at ``sr``); panels follow the mapping's order.
    sr : int
        Sample rate in Hz.
    ncols : int
        Panels per row.
    show_f0 : bool
        Overlay each utterance's F0 track.
    max_freq : float
        Upper frequency shown, in Hz.
    suptitle : str, optional
        Figure title (a caption for the printed page).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> t = np.arange(8000) / 16000
    >>> fig = plot_spectrograms({"anger": np.sin(2 * np.pi * 300 * t), "sadness": np.sin(2 * np.pi * 150 * t)})
    >>> [a.get_title(loc="left") for a in fig.axes]
    ['anger', 'sadness']
    """
    from emocirc.prosodic_baseline import f0_track

    if not examples:
        raise EmocircError("no examples to draw: expected a mapping emotion -> signal")
    n = len(examples)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(FIGURE_WIDTH, 2.1 * nrows + 0.4), sharex=True, sharey=True, squeeze=False
    )
    for ax, (emotion, wave) in zip(axes.flat, examples.items(), strict=False):
        f0 = f0_track(np.asarray(wave, dtype=float), sr) if show_f0 else None
        plot_spectrogram(wave, sr=sr, ax=ax, title=emotion, emotion=emotion, f0=f0, max_freq=max_freq)
        if not ax.get_subplotspec().is_last_row():
            ax.set_xlabel("")
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
    for ax in list(axes.flat)[n:]:
        ax.remove()
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
