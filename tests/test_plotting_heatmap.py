"""Tests of emocirc.plotting.heatmap: density panels, small multiples, trajectory, explorer."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from emocirc.diary import DiaryMap, circumplex_density
from emocirc.errors import EmocircError
from emocirc.plotting import heatmap as H
from emocirc.russell import CATEGORIES


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _windows(n_days=3, per_day=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_days):
        for _ in range(per_day):
            rows.append(
                {
                    "day": f"2024-03-{4 + d:02d}",
                    "valence": 0.5 - 0.5 * d + rng.normal(0, 0.05),
                    "arousal": 0.4 - 0.4 * d + rng.normal(0, 0.05),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def diary_map():
    return DiaryMap.from_windows(_windows(), grid_size=25, params={"window_s": 3.0})


def test_draw_circumplex_marks_the_eight_anchors_and_axes():
    fig, ax = plt.subplots()
    H.draw_circumplex(ax)
    texts = [t.get_text() for t in ax.texts]
    assert sorted(texts) == sorted(CATEGORIES)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("valence", "arousal")
    assert ax.get_xlim() == pytest.approx((-1.15, 1.15))
    # Each anchor sits in its quadrant: excitement up-right, depression down-left.
    pos = {t.get_text(): t.get_position() for t in ax.texts}
    assert pos["excitement"][0] > 0 and pos["excitement"][1] > 0
    assert pos["depression"][0] < 0 and pos["depression"][1] < 0
    _, bare = plt.subplots()
    H.draw_circumplex(bare, labels=False)
    assert len(bare.texts) == 0 and bare.get_xlabel() == ""


def test_plot_density_draws_the_density_where_the_points_are():
    grid, dens = circumplex_density(np.full(20, -0.6), np.full(20, 0.6), grid_size=30)
    fig = H.plot_density(grid, dens, title="t", centre=(-0.6, 0.6))
    ax = fig.axes[0]
    image = ax.images[0]
    np.testing.assert_array_equal(image.get_array(), dens)
    assert image.get_extent() == pytest.approx([-1, 1, -1, 1])
    assert image.origin == "lower" and image.get_clim() == pytest.approx((0, dens.max()))
    i, j = np.unravel_index(np.asarray(image.get_array()).argmax(), dens.shape)
    assert grid[j] < 0 < grid[i]  # drawn up-left: unpleasant, aroused
    assert ax.get_title() == "t"
    with pytest.raises(EmocircError, match=r"expected \(30, 30\)"):
        H.plot_density(grid, dens[:5])


def test_plot_density_on_given_ax_with_shared_scale():
    grid, dens = circumplex_density([0.1], [0.1], grid_size=10)
    fig, ax = plt.subplots()
    assert H.plot_density(grid, dens, ax=ax, vmax=99.0) is fig
    assert ax.images[0].get_clim() == (0.0, 99.0)


def test_small_multiples_one_panel_per_day_with_shared_scale(diary_map):
    fig = H.plot_day_densities(diary_map, ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 and len(fig.axes) == 4
    assert [ax.get_title() for ax in visible] == ["Mon 03-04 (n=30)", "Tue 03-05 (n=30)", "Wed 03-06 (n=30)"]
    top = diary_map.density.max()
    assert all(ax.images[0].get_clim() == pytest.approx((0, top)) for ax in visible)
    # Shared axes: arousal on the left column, valence under the bottom panels.
    assert [ax.get_ylabel() for ax in visible] == ["arousal", "", "arousal"]
    assert visible[2].get_xlabel() == "valence" and visible[1].get_xlabel() == "valence"
    assert visible[0].get_xlabel() == ""
    # The day's mean is marked.
    cross = [ln for ln in visible[2].get_lines() if ln.get_marker() == "+"][0]
    assert cross.get_xdata()[0] == pytest.approx(diary_map.summary["valence_mean"].iloc[2])


def test_small_multiples_follow_the_drift(diary_map):
    fig = H.plot_day_densities(diary_map, shared_scale=False)
    peaks = []
    for ax in fig.axes[:3]:
        arr = np.asarray(ax.images[0].get_array())
        peaks.append(diary_map.grid[np.unravel_index(arr.argmax(), arr.shape)[1]])
    assert peaks[0] > peaks[1] > peaks[2]


def test_small_multiples_subset_and_errors(diary_map):
    fig = H.plot_day_densities(diary_map, days=["2024-03-06"])
    assert len(fig.axes) == 1 and fig.axes[0].get_title().startswith("Wed 03-06")
    with pytest.raises(EmocircError, match="'2024-01-01' is not in the diary map"):
        H.plot_day_densities(diary_map, days=["2024-01-01"])
    _, axes = plt.subplots(1, 2)
    with pytest.raises(EmocircError, match="2 axes for 3 days"):
        H.plot_day_densities(diary_map, axes=list(axes))


def test_trajectory_plots_the_daily_means_and_truth(diary_map):
    truth = diary_map.summary.assign(valence_mean=0.0, arousal_mean=-1.0)
    fig = H.plot_day_trajectory(diary_map.summary, truth=truth)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["valence (estimated)"].get_ydata(), diary_map.summary["valence_mean"])
    np.testing.assert_allclose(lines["arousal (true)"].get_ydata(), -1.0)
    assert lines["arousal (true)"].get_linestyle() == "--"
    with pytest.raises(EmocircError, match="valence_mean"):
        H.plot_day_trajectory(pd.DataFrame({"day": ["x"]}))


def test_explorer_redraws_on_day_and_window_change(diary_map):
    other = DiaryMap.from_windows(_windows(seed=5, per_day=10), grid_size=25, params={"window_s": 6.0})
    ex = H.diary_explorer({3.0: diary_map, 6.0: other})
    assert isinstance(ex.figure, Figure)
    assert ex.day_slider.max == 2 and ex.day == "2024-03-04" and ex.window_s == 3.0
    assert [v for _, v in ex.window_select.options] == [3.0, 6.0]
    png0 = ex.image.value
    assert png0[:8] == b"\x89PNG\r\n\x1a\n"
    density_ax = ex.figure.axes[0]
    assert "2024-03-04" in density_ax.get_title() and "3 s windows" in density_ax.get_title()
    np.testing.assert_array_equal(density_ax.images[0].get_array(), diary_map.density[0])

    ex.day_slider.value = 2
    density_ax = ex.figure.axes[0]
    assert ex.day == "2024-03-06" and ex.day_label.value == "2024-03-06"
    assert "2024-03-06" in density_ax.get_title()
    np.testing.assert_array_equal(density_ax.images[0].get_array(), diary_map.density[2])
    png2 = ex.image.value
    assert png2 != png0

    ex.window_select.value = 6.0
    density_ax = ex.figure.axes[0]
    assert "6 s windows" in density_ax.get_title() and "n=10" in density_ax.get_title()
    np.testing.assert_array_equal(density_ax.images[0].get_array(), other.density[2])
    assert ex.image.value not in (png0, png2)
    # One colour scale per map across days, so the slider compares like with like.
    assert density_ax.images[0].get_clim()[1] == pytest.approx(other.density.max())


def test_explorer_from_one_map_and_bad_input(diary_map):
    ex = H.diary_explorer(diary_map, day=1)
    assert list(ex.maps) == [""] and list(ex.maps[""]) == [3.0] and ex.day == "2024-03-05"
    assert ex.person_select.disabled and ex.person_select not in ex.widget.children[0].children
    assert ex.still().data == ex.image.value
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    with pytest.raises(EmocircError, match="day index 7"):
        H.diary_explorer(diary_map, day=7)
    with pytest.raises(EmocircError, match="window length 9"):
        H.diary_explorer(diary_map, window_s=9)
    with pytest.raises(EmocircError, match="at least one diary map"):
        H.diary_explorer({})


def test_explorer_switches_between_persons(diary_map):
    other = DiaryMap.from_windows(_windows(seed=9, per_day=7), grid_size=25, params={"window_s": 3.0})
    ex = H.diary_explorer(
        {"control-0": {3.0: diary_map}, "changer-0": {3.0: other}}, day=1, person="changer-0"
    )
    assert ex.person == "changer-0" and ex.person_select.options == ("control-0", "changer-0")
    assert ex.person_select in ex.widget.children[0].children
    title = ex.figure.axes[0].get_title()
    assert title.startswith("changer-0, 2024-03-05") and "n=7" in title
    before = ex.image.value
    ex.person_select.value = "control-0"
    np.testing.assert_array_equal(ex.figure.axes[0].images[0].get_array(), diary_map.density[1])
    assert ex.image.value != before and "n=30" in ex.figure.axes[0].get_title()
    with pytest.raises(EmocircError, match="person 'nobody'"):
        H.diary_explorer({"a": {3.0: diary_map}}, person="nobody")
    with pytest.raises(EmocircError, match="for every person"):
        H.diary_explorer({"a": {3.0: diary_map}, "b": {6.0: other}}, window_s=6.0)
