"""Figures of within-person mood monitoring: control charts and the day x time-of-day speech grid.

:func:`plot_control_chart` draws the daily z-scores against the personal
baseline with the EWMA and its control limits (:func:`emocirc.mood.mood_chart`),
flagged days marked; :func:`plot_speech_grid` shows how much speech each
recording slot of each day held, with the missing cells visible.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from emocirc.errors import EmocircError

_COLORS = {"valence_mean": "#2a9d8f", "arousal_mean": "#7b2cbf"}
_NAMES = {"valence_mean": "valence", "arousal_mean": "arousal"}


def plot_control_chart(
    chart: pd.DataFrame,
    measures: Sequence[str] | None = None,
    change_day: int | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """One panel per measure: daily z-scores, the EWMA with its control limits, flagged days.

    Parameters
    ----------
    chart:
        A table from :func:`emocirc.mood.mood_chart`.
    measures:
        Measures to draw (default: every measure of the chart).
    change_day:
        Day index of a known change (a synthetic diary's), drawn as a line.
    axes:
        Axes to draw on, one per measure.

    Examples
    --------
    >>> from emocirc.mood import mood_chart
    >>> days = [f"2024-01-{d:02d}" for d in range(1, 11)]
    >>> daily = pd.DataFrame({"day": days, "status": "ok", "valence_mean": [0, .1, -.1, 0, .1, -.1, 0, -.5, -.6, -.6],
    ...                       "valence_mean_se": 0.05})
    >>> fig = plot_control_chart(mood_chart(daily, measures=["valence_mean"]))
    >>> fig.axes[0].get_ylabel()
    'valence (z)'
    >>> plt.close(fig)
    """
    if measures is None:
        measures = [c[: -len("_ewma")] for c in chart.columns if c.endswith("_ewma")]
    missing = [m for m in measures if f"{m}_ewma" not in chart]
    if missing or not measures:
        raise EmocircError(
            f"control chart: no columns for {missing or 'any measure'}; expected mood_chart output"
        )
    if axes is None:
        fig, axes = plt.subplots(
            len(measures), 1, figsize=(7.0, 2.2 * len(measures)), sharex=True, squeeze=False
        )
        axes = list(axes[:, 0])
    fig = axes[0].figure
    x = np.arange(len(chart))
    base = (chart["phase"] == "baseline").to_numpy()
    status = chart["status"].to_numpy(str)
    for ax, m in zip(axes, measures, strict=False):
        color = _COLORS.get(m, "C0")
        if base.any():
            ax.axvspan(-0.5, np.flatnonzero(base)[-1] + 0.5, color="0.92", zorder=0, label="baseline")
        limit = chart[f"{m}_limit"].to_numpy(float)
        ax.fill_between(x, -limit, limit, color=color, alpha=0.12, step="mid", label="control limits")
        ax.plot(x, chart[f"{m}_z"], "o", ms=3.5, color="0.35", label="day (z)")
        ax.plot(x, chart[f"{m}_ewma"], "-", color=color, lw=1.6, label="EWMA")
        flag = chart[f"{m}_flag"].to_numpy(bool)
        ax.plot(x[flag], chart[f"{m}_ewma"].to_numpy(float)[flag], "v", color="#d62828", ms=7, label="flag")
        for i in np.flatnonzero(status != "ok"):
            ax.text(
                i,
                0,
                "no speech" if status[i] == "not enough speech" else "missing",
                rotation=90,
                ha="center",
                va="center",
                fontsize=6,
                color="0.4",
            )
        if change_day is not None:
            ax.axvline(change_day - 0.5, color="k", ls="--", lw=1.0, label="true change")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_ylabel(f"{_NAMES.get(m, m)} (z)")
    axes[0].legend(fontsize=6, ncols=3, loc="upper left")
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels([str(d)[5:] for d in chart["day"]], rotation=60, fontsize=7)
    return fig


def plot_speech_grid(
    recordings: pd.DataFrame,
    days: Sequence[str],
    slot_hours: int = 3,
    min_speech_s: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Day x time-of-day grid of speech seconds; cells without a recording left blank and hatched.

    Parameters
    ----------
    recordings:
        Speech per recording (``day``, ``time`` as ``HH:MM`` or ``""``,
        ``speech_s``), e.g. :attr:`emocirc.diary.DiaryMap.recordings`.
    days:
        Rows: every calendar day to show (missing days included).
    slot_hours:
        Width of a time-of-day column; recordings without a time go to a
        column ``?``.
    min_speech_s:
        Days whose total is below it get their label marked ``(not enough speech)``.

    Examples
    --------
    >>> rec = pd.DataFrame({"day": ["2024-01-01", "2024-01-03"], "time": ["09:10", "19:00"],
    ...                     "speech_s": [30.0, 12.0]})
    >>> fig = plot_speech_grid(rec, ["2024-01-01", "2024-01-02", "2024-01-03"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][1]
    '2024-01-02 (no recording)'
    >>> plt.close(fig)
    """
    table = speech_grid(recordings, days, slot_hours)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.7 * table.shape[1], 0.8 + 0.28 * len(days)))
    fig = ax.figure
    values = table.to_numpy(float)
    shown = np.ma.masked_invalid(values)
    top = float(np.nanmax(values)) if np.isfinite(values).any() and np.nanmax(values) > 0 else 1.0
    ax.imshow(shown, aspect="auto", cmap="Blues", vmin=0, vmax=top)
    for i, j in zip(*np.nonzero(~np.isfinite(values)), strict=True):
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", color="0.75", lw=0))
    for i, j in zip(*np.nonzero(np.isfinite(values)), strict=True):
        ax.text(
            j,
            i,
            f"{values[i, j]:.0f}",
            ha="center",
            va="center",
            fontsize=6,
            color="white" if values[i, j] > 0.6 * top else "black",
        )
    totals = np.nansum(np.where(np.isfinite(values), values, 0), axis=1)
    labels = []
    for day, total, row in zip(days, totals, values, strict=True):
        if not np.isfinite(row).any():
            labels.append(f"{day} (no recording)")
        elif min_speech_s is not None and total < min_speech_s:
            labels.append(f"{day} (not enough speech)")
        else:
            labels.append(str(day))
    ax.set_yticks(range(len(days)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xticks(range(table.shape[1]))
    ax.set_xticklabels(table.columns, fontsize=7)
    ax.set_xlabel("time of day (speech seconds per slot)")
    ax.grid(False)
    return fig


def speech_grid(recordings: pd.DataFrame, days: Sequence[str], slot_hours: int = 3) -> pd.DataFrame:
    """The numbers of :func:`plot_speech_grid`: speech seconds per day (rows) and time slot (columns), NaN where no recording.

    Examples
    --------
    >>> rec = pd.DataFrame({"day": ["d1", "d1"], "time": ["09:00", "10:30"], "speech_s": [5.0, 7.0]})
    >>> speech_grid(rec, ["d1", "d2"], slot_hours=6).values.tolist()
    [[12.0], [nan]]
    """
    if not 1 <= slot_hours <= 24:
        raise EmocircError(f"slot_hours={slot_hours}: expected 1..24")
    for col in ("day", "time", "speech_s"):
        if col not in recordings:
            raise EmocircError(
                f"speech grid: missing column {col!r}; expected recordings with day,time,speech_s"
            )
    times = recordings["time"].fillna("").astype(str)
    hours = pd.to_numeric(times.str.slice(0, 2), errors="coerce")
    slot = (hours // slot_hours * slot_hours).astype("Int64")
    label = [f"{int(s):02d}-{int(s) + slot_hours:02d}" if pd.notna(s) else "?" for s in slot]
    frame = pd.DataFrame(
        {"day": recordings["day"].astype(str), "slot": label, "speech_s": recordings["speech_s"]}
    )
    table = frame.pivot_table(index="day", columns="slot", values="speech_s", aggfunc="sum")
    known = sorted(c for c in table.columns if c != "?")
    columns = known + (["?"] if "?" in table.columns else [])
    return table.reindex(index=[str(d) for d in days], columns=columns)
