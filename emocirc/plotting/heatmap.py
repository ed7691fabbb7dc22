"""The emotional heat map: densities of a diary on Russell's circumplex, day by day.

:func:`plot_density` draws one density panel, :func:`plot_day_densities`
the small multiples (one panel per day, as the seed's Figure 6 shows two
weeks), :func:`plot_day_trajectory` the per-day means against the days, and
:func:`diary_explorer` an ipywidgets explorer with a person menu, a day
slider and a window-length selector whose current view is also a static
figure for the printed page.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from emocirc.errors import EmocircError
from emocirc.russell import CATEGORY_ANGLES

#: Colour map of the densities: light where nothing was heard, dark where most was.
DENSITY_CMAP = "YlOrRd"

_ANCHOR_STYLE = {"color": "0.45", "fontsize": 6.5, "ha": "center", "va": "center"}


def draw_circumplex(ax: Axes, anchors: bool = True, labels: bool = True) -> Axes:
    """Draw the circumplex frame on ``ax``: unit circle, axes, Russell's eight anchors (light).

    Parameters
    ----------
    ax:
        Axes to draw on; its limits become the square ``[-1.15, 1.15]^2``.
    anchors:
        Mark Russell's eight category anchors (pleasure 0 degrees,
        excitement 45, ... contentment 315) with light ticks.
    labels:
        Write the anchors' names (and label the axes valence/arousal).

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> _ = draw_circumplex(ax)
    >>> ax.get_xlabel(), ax.get_ylabel(), len([t for t in ax.texts if t.get_text() == "depression"])
    ('valence', 'arousal', 1)
    >>> plt.close(fig)
    """
    theta = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(theta), np.sin(theta), color="0.6", lw=0.6, zorder=3)
    ax.axhline(0, color="0.6", lw=0.5, zorder=3)
    ax.axvline(0, color="0.6", lw=0.5, zorder=3)
    if anchors:
        for name, angle in CATEGORY_ANGLES.items():
            rad = np.deg2rad(angle)
            c, s = np.cos(rad), np.sin(rad)
            ax.plot([0.93 * c, 1.0 * c], [0.93 * s, 1.0 * s], color="0.45", lw=0.8, zorder=3)
            if labels:
                ax.text(0.8 * c, 0.8 * s, name, zorder=4, **_ANCHOR_STYLE)
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_aspect("equal")
    ax.grid(False)
    if labels:
        ax.set_xlabel("valence")
        ax.set_ylabel("arousal")
    return ax


def plot_density(
    grid: np.ndarray,
    density: np.ndarray,
    ax: Axes | None = None,
    title: str | None = None,
    vmax: float | None = None,
    centre: tuple[float, float] | None = None,
    anchor_labels: bool = True,
) -> Figure:
    """Draw one valence x arousal density (indexed ``[arousal, valence]``) on the circumplex.

    Parameters
    ----------
    grid:
        Cell centres (both axes), from :func:`emocirc.diary.circumplex_density`.
    density:
        ``(len(grid), len(grid))`` array.
    ax:
        Axes to draw on (a new figure when None).
    title:
        Panel title.
    vmax:
        Top of the colour scale; pass the same value to panels that are
        compared (default: this panel's maximum).
    centre:
        (valence, arousal) to mark with a cross, e.g. the day's mean.
    anchor_labels:
        Write Russell's anchor names and the axis labels.

    Examples
    --------
    >>> from emocirc.diary import circumplex_density
    >>> grid, dens = circumplex_density(np.array([0.5, 0.6]), np.array([0.5, 0.4]), grid_size=20)
    >>> fig = plot_density(grid, dens, title="one day")
    >>> fig.axes[0].get_title()
    'one day'
    >>> plt.close(fig)
    """
    density = np.asarray(density, dtype=float)
    if density.shape != (len(grid), len(grid)):
        raise EmocircError(
            f"density of shape {density.shape}: expected ({len(grid)}, {len(grid)}) to match the grid"
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.6, 3.6))
    fig = ax.figure
    half = (grid[1] - grid[0]) / 2 if len(grid) > 1 else 1.0
    extent = (grid[0] - half, grid[-1] + half, grid[0] - half, grid[-1] + half)
    top = vmax if vmax is not None else (float(density.max()) or 1.0)
    ax.imshow(
        density,
        origin="lower",
        extent=extent,
        cmap=DENSITY_CMAP,
        vmin=0.0,
        vmax=top,
        interpolation="bilinear",
    )
    draw_circumplex(ax, anchors=True, labels=anchor_labels)
    if centre is not None and np.all(np.isfinite(centre)):
        ax.plot(*centre, marker="+", color="k", ms=9, mew=1.6, zorder=5)
    if title is not None:
        ax.set_title(title)
    return fig


def plot_day_densities(
    diary_map: Any,
    days: Sequence[str] | None = None,
    ncols: int = 7,
    axes: Sequence[Axes] | None = None,
    shared_scale: bool = True,
) -> Figure:
    """Small multiples: one circumplex density panel per day (the seed's Figure 6, from voice).

    Parameters
    ----------
    diary_map:
        A :class:`emocirc.diary.DiaryMap`.
    days:
        Days to draw (default all).
    ncols:
        Panels per row.
    axes:
        Axes to draw on, one per day (a new figure when None).
    shared_scale:
        One colour scale for every day, so that days can be compared.

    Examples
    --------
    >>> from emocirc.diary import DiaryMap
    >>> w = pd.DataFrame({"day": ["2024-03-04"] * 2 + ["2024-03-05"] * 2,
    ...                   "valence": [0.5, 0.4, -0.5, -0.6], "arousal": [0.2, 0.3, -0.5, -0.4]})
    >>> fig = plot_day_densities(DiaryMap.from_windows(w, grid_size=20), ncols=2)
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['Mon 03-04 (n=2)', 'Tue 03-05 (n=2)']
    >>> plt.close(fig)
    """
    all_days = list(diary_map.days)
    days = all_days if days is None else [str(d) for d in days]
    unknown = [d for d in days if d not in all_days]
    if unknown:
        raise EmocircError(
            f"day {unknown[0]!r} is not in the diary map: expected one of {', '.join(all_days)}"
        )
    if not days:
        raise EmocircError("no days to draw: expected a diary map with at least one day")
    n = len(days)
    own_axes = axes is None
    if axes is None:
        ncols = max(1, min(ncols, n))
        nrows = int(np.ceil(n / ncols))
        fig, grid_axes = plt.subplots(
            nrows,
            ncols,
            figsize=(1.6 * ncols + 0.6, 1.7 * nrows + 0.4),
            squeeze=False,
            sharex=True,
            sharey=True,
        )
        flat = list(grid_axes.ravel())
        for extra in flat[n:]:
            extra.set_visible(False)
        axes = flat[:n]
    elif len(axes) < n:
        raise EmocircError(f"{len(axes)} axes for {n} days: expected one axes per day")
    fig = axes[0].figure
    index = [all_days.index(d) for d in days]
    vmax = float(diary_map.density[index].max()) if shared_scale else None
    summary = diary_map.summary.set_index(diary_map.summary["day"].astype(str))
    for ax, day, i in zip(axes, days, index, strict=False):
        row = summary.loc[day] if day in summary.index else None
        centre = (row["valence_mean"], row["arousal_mean"]) if row is not None else None
        count = int(row["n_windows"]) if row is not None else 0
        plot_density(
            diary_map.grid, diary_map.density[i], ax=ax, vmax=vmax, centre=centre, anchor_labels=False
        )
        ax.set_title(f"{_day_title(day)} (n={count})", fontsize=8)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        ax.tick_params(labelsize=6)
    # Label the outer panels only (the panels share both axes): valence under
    # each panel with no panel below it, arousal on the first column.
    for k, ax in enumerate(axes):
        spec = ax.get_subplotspec()
        if spec is None:
            below, first_col = False, True
        else:
            cols = spec.get_gridspec().ncols
            below = (k + cols < n) if own_axes else not spec.is_last_row()
            first_col = spec.is_first_col()
        if not below:
            ax.set_xlabel("valence", fontsize=8)
        if first_col:
            ax.set_ylabel("arousal", fontsize=8)
    return fig


def plot_day_trajectory(
    summary: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Mean valence and mean arousal per day (solid), with the ground truth (dashed) when known.

    Examples
    --------
    >>> s = pd.DataFrame({"day": ["2024-03-04", "2024-03-05"], "valence_mean": [0.3, -0.2],
    ...                   "arousal_mean": [0.1, -0.3]})
    >>> fig = plot_day_trajectory(s)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['valence (estimated)', 'arousal (estimated)']
    >>> plt.close(fig)
    """
    for col in ("day", "valence_mean", "arousal_mean"):
        if col not in summary:
            raise EmocircError(
                f"summary: missing column {col!r}; expected a table from emocirc.diary.day_summary"
            )
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
    fig = ax.figure
    x = np.arange(len(summary))
    colors = {"valence": "#2a9d8f", "arousal": "#7b2cbf"}
    for dim in ("valence", "arousal"):
        ax.plot(x, summary[f"{dim}_mean"], marker="o", ms=3, color=colors[dim], label=f"{dim} (estimated)")
        if truth is not None:
            ax.plot(x, truth[f"{dim}_mean"], ls="--", color=colors[dim], alpha=0.7, label=f"{dim} (true)")
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels([_day_title(d) for d in summary["day"].astype(str)], rotation=60, fontsize=7)
    ax.set_ylabel("mean position (-1 .. 1)")
    ax.legend(loc="best", ncols=2)
    return fig


class DiaryExplorer:
    """An ipywidgets explorer of diary maps: a person menu, a day slider and a window-length menu.

    Each change redraws the selected person's day into :attr:`figure` (a
    matplotlib Figure, not managed by pyplot, so that it is also the static
    figure of a printed page) and into the PNG of :attr:`image`.  Display
    the explorer itself in a notebook for the interactive version.

    Attributes
    ----------
    maps:
        Person -> window length in seconds -> :class:`emocirc.diary.DiaryMap`
        (one person named ``""`` when built from maps by window only).
    days:
        The days of the slider (the union of all maps' days, sorted).
    person_select:
        ``ipywidgets.Dropdown`` of the persons.
    day_slider:
        ``ipywidgets.IntSlider`` over day indices.
    window_select:
        ``ipywidgets.Dropdown`` of the window lengths.
    image:
        ``ipywidgets.Image`` holding the current view as PNG.
    figure:
        The current view as a matplotlib Figure.
    widget:
        The whole explorer (``ipywidgets.VBox``).
    """

    def __init__(
        self,
        maps: Mapping[Any, Any],
        day: int = 0,
        window_s: float | None = None,
        person: str | None = None,
    ) -> None:
        import ipywidgets as widgets

        if not maps:
            raise EmocircError("diary explorer: expected at least one diary map")
        nested = all(isinstance(v, Mapping) for v in maps.values())
        by_person = maps if nested else {"": maps}
        self.maps = {
            str(who): {float(k): v for k, v in sorted(per.items())} for who, per in by_person.items()
        }
        if any(not per for per in self.maps.values()):
            raise EmocircError("diary explorer: expected at least one diary map per person")
        self.days = sorted({str(d) for per in self.maps.values() for m in per.values() for d in m.days})
        if not self.days:
            raise EmocircError("diary explorer: the diary maps hold no day")
        if not 0 <= day < len(self.days):
            raise EmocircError(f"day index {day}: expected 0..{len(self.days) - 1}")
        persons = list(self.maps)
        person = persons[0] if person is None else str(person)
        if person not in self.maps:
            raise EmocircError(f"person {person!r}: expected one of {', '.join(persons)}")
        windows = sorted({w for per in self.maps.values() for w in per})
        if window_s is None:
            window_s = windows[0]
        if any(float(window_s) not in per for per in self.maps.values()):
            raise EmocircError(
                f"window length {window_s} s: expected one of {', '.join(map(str, windows))} for every person"
            )
        # Each map keeps one colour scale over its days, so the slider compares like with like.
        self._vmax = {
            (who, k): float(m.density.max()) or 1.0 for who, per in self.maps.items() for k, m in per.items()
        }
        self.figure = Figure(figsize=(7.0, 3.4), layout="constrained")
        self.person_select = widgets.Dropdown(
            options=persons, value=person, description="person", disabled=len(persons) == 1
        )
        self.day_slider = widgets.IntSlider(
            value=day, min=0, max=len(self.days) - 1, step=1, description="day", continuous_update=False
        )
        self.window_select = widgets.Dropdown(
            options=[(f"{w:g} s", w) for w in windows], value=float(window_s), description="window"
        )
        self.day_label = widgets.Label()
        self.image = widgets.Image(format="png")
        controls = [self.day_slider, self.day_label, self.window_select]
        if len(persons) > 1:
            controls.insert(0, self.person_select)
        self.widget = widgets.VBox([widgets.HBox(controls), self.image])
        for control in (self.person_select, self.day_slider, self.window_select):
            control.observe(self._on_change, names="value")
        self.redraw()

    @property
    def person(self) -> str:
        """The person on show."""
        return str(self.person_select.value)

    @property
    def day(self) -> str:
        """The day on show."""
        return self.days[self.day_slider.value]

    @property
    def window_s(self) -> float:
        """The window length on show, in seconds."""
        return float(self.window_select.value)

    def redraw(self) -> None:
        """Draw the current day and window length into :attr:`figure` and :attr:`image`."""
        self.figure.clear()
        ax_map, ax_days = self.figure.subplots(1, 2, width_ratios=[1.0, 1.25])
        dmap = self.maps[self.person][self.window_s]
        day = self.day
        if day in dmap.days:
            density = dmap.density[dmap.days.index(day)]
        else:
            density = np.zeros((len(dmap.grid), len(dmap.grid)))
        summary = dmap.summary.set_index(dmap.summary["day"].astype(str))
        centre, count = None, 0
        if day in summary.index:
            centre = (summary.loc[day, "valence_mean"], summary.loc[day, "arousal_mean"])
            count = int(summary.loc[day, "n_windows"])
        plot_density(
            dmap.grid, density, ax=ax_map, vmax=self._vmax[(self.person, self.window_s)], centre=centre
        )
        who = f"{self.person}, " if self.person else ""
        ax_map.set_title(
            f"{who}{day} ({_day_title(day)[:3]}), {self.window_s:g} s windows, n={count}", fontsize=9
        )
        plot_day_trajectory(dmap.summary, truth=dmap.truth_summary(), ax=ax_days)
        ax_days.legend(fontsize=6, loc="lower left", ncols=2)
        if day in list(dmap.summary["day"].astype(str)):
            ax_days.axvline(list(dmap.summary["day"].astype(str)).index(day), color="k", lw=1.0, alpha=0.5)
        ax_days.set_title("daily means", fontsize=9)
        self.day_label.value = day
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=90)
        self.image.value = buf.getvalue()

    def still(self) -> Any:
        """The current view as an ``IPython.display.Image`` (PNG): the static figure of a printed page.

        Unlike the matplotlib :attr:`figure`, it displays the same whatever
        matplotlib backend the kernel runs.
        """
        from IPython.display import Image

        return Image(data=self.image.value, format="png")

    def _on_change(self, _change: Any) -> None:
        self.redraw()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def diary_explorer(
    maps: Any, day: int = 0, window_s: float | None = None, person: str | None = None
) -> DiaryExplorer:
    """Build a :class:`DiaryExplorer` from one diary map, several keyed by window length, or by person.

    Parameters
    ----------
    maps:
        A :class:`emocirc.diary.DiaryMap`; a mapping window length (s)
        -> DiaryMap (one per window length the selector offers); or a
        mapping person -> (window length -> DiaryMap), every person with the
        same window lengths.
    person:
        Person shown first (default the first).
    day:
        Index of the day shown first.
    window_s:
        Window length shown first (default the shortest).

    Examples
    --------
    >>> from emocirc.diary import DiaryMap
    >>> w = pd.DataFrame({"day": ["d1", "d1", "d2", "d2"], "valence": [0.5, 0.4, -0.5, -0.6],
    ...                   "arousal": [0.2, 0.3, -0.5, -0.4]})
    >>> ex = diary_explorer({3.0: DiaryMap.from_windows(w, grid_size=20)})
    >>> first = ex.image.value
    >>> ex.day_slider.value = 1
    >>> ex.day, ex.image.value != first
    ('d2', True)
    """
    if not isinstance(maps, Mapping):
        window = float(getattr(maps, "params", {}).get("window_s", 0.0))
        maps = {window: maps}
    return DiaryExplorer(maps, day=day, window_s=window_s, person=person)


def _day_title(day: str) -> str:
    """``Mon 03-04`` for an ISO day; anything else unchanged."""
    try:
        stamp = pd.Timestamp(day)
    except (ValueError, TypeError):
        return day
    return f"{stamp.strftime('%a')} {stamp.strftime('%m-%d')}"
