"""The circumplex figures draw what they are given."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from emocirc.errors import EmocircError
from emocirc.plotting import circumplex as plots
from emocirc.plotting.style import emotion_color
from emocirc.russell import word_angles


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _data(dims=2, n=20):
    rng = np.random.default_rng(0)
    return rng.normal(size=(2 * n, dims)), np.array(["anger"] * n + ["sadness"] * n)


def test_scatter_uses_emotion_colours_in_2d_and_3d(tmp_path):
    X, y = _data(3)
    fig2 = plots.scatter(X, y, dims=2)
    colours = [tuple(c.get_facecolor()[0][:3]) for c in fig2.axes[0].collections]
    from matplotlib.colors import to_rgb

    assert colours == [to_rgb(emotion_color("anger")), to_rgb(emotion_color("sadness"))]
    fig3 = plots.scatter(X, y)
    assert fig3.axes[0].name == "3d"
    fig3.savefig(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
    with pytest.raises(EmocircError, match="dims"):
        plots.scatter(X[:, :2], y, dims=3)


def test_ellipses_have_the_class_covariance_axes():
    rng = np.random.default_rng(1)
    X = rng.multivariate_normal([0, 0], np.diag([9.0, 1.0]), 5000)
    y = np.full(len(X), "anger")
    fig = plots.gaussian_ellipses(X, y, points=False, n_std=(1.0, 2.0))
    one, two = fig.axes[0].patches
    assert one.width == pytest.approx(2 * 3.0, rel=0.05)  # 1 SD along the long axis: 2 x 3
    assert one.height == pytest.approx(2 * 1.0, rel=0.05)
    assert two.width == pytest.approx(2 * one.width)
    assert abs(np.cos(np.radians(one.angle))) == pytest.approx(1.0, abs=0.01)


def test_explained_variance_bars_and_cumulative_line():
    ratio = [0.5, 0.2, 0.1, 0.05]
    ax = plots.explained_variance(ratio).axes[0]
    assert [p.get_height() for p in ax.patches] == ratio
    assert np.allclose(ax.lines[0].get_ydata(), np.cumsum(ratio))


def test_circumplex_diagram_places_words_and_centroids():
    fig = plots.circumplex_diagram(centroids={"anger": (-0.2, 0.9), "disgust": (np.nan, np.nan)})
    ax = fig.axes[0]
    texts = {t.get_text(): t.get_position() for t in ax.texts}
    assert {"PLEASURE", "AROUSAL", "MISERY", "SLEEPINESS"} <= set(texts)
    assert set(word_angles().index) <= set(texts)
    x, y = texts["SLEEPINESS"]
    assert x == pytest.approx(0.0, abs=1e-9) and y < 0
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 1 and stars[0].get_label() == "anger"  # NaN position is skipped
    assert tuple(stars[0].get_xydata()[0]) == (-0.2, 0.9)


def test_mahalanobis_heatmap_is_symmetric_and_annotated():
    t = pd.DataFrame(
        {
            "a": ["anger", "anger", "sadness"],
            "b": ["sadness", "neutral", "neutral"],
            "distance": [4.0, 2.0, 3.0],
            "ci_low": [3.5, 1.5, 2.5],
            "ci_high": [4.5, 2.5, 3.5],
        }
    )
    ax = plots.mahalanobis_heatmap(t).axes[0]
    mat = ax.images[0].get_array()
    assert np.allclose(mat, mat.T)
    assert mat[0, 1] == 4.0  # canonical order anger, sadness, neutral
    assert any("[3.50, 4.50]" in x.get_text() for x in ax.texts)
    with pytest.raises(EmocircError, match="ci_low"):
        plots.mahalanobis_heatmap(t.drop(columns="ci_low"))


def test_confusion_matrix_rows_are_recalls():
    ax = plots.confusion_matrix([[3, 1], [0, 0]], ["anger", "sadness"]).axes[0]
    shown = ax.images[0].get_array()
    assert shown[0].tolist() == [0.75, 0.25]
    assert shown[1].tolist() == [0.0, 0.0]  # empty row, no division by zero
    raw = plots.confusion_matrix([[3, 1], [0, 2]], ["anger", "sadness"], normalize=False).axes[0]
    assert raw.texts[3].get_text() == "2"
    with pytest.raises(EmocircError, match="shape"):
        plots.confusion_matrix([[1, 2, 3]], ["anger", "sadness"])


def test_pairwise_panels_title_each_pair_with_its_distance_and_interval():
    rng = np.random.default_rng(0)
    centres = {"anger": (0, 0), "boredom": (4, 0), "sadness": (4, 1), "fear": (0, 2)}
    X = np.vstack([np.array(c) + rng.normal(0, 0.5, (20, 2)) for c in centres.values()])
    y = np.repeat(list(centres), 20)
    table = pd.DataFrame(
        {
            "a": ["anger", "boredom", "anger"],
            "b": ["boredom", "sadness", "fear"],
            "distance": [8.0, 2.0, 4.0],
            "ci_low": [7.0, 1.5, 3.0],
            "ci_high": [9.0, 2.5, 5.0],
        }
    )
    fig = plots.pairwise_panels(X, y, table)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "Figure 18: anger x boredom: D = 8.00 [7.00, 9.00]"
    # The table lists boredom-sadness; the panel asks for sadness x boredom.
    assert titles[1] == "Figure 19: sadness x boredom: D = 2.00 [1.50, 2.50]"
    # Each drawn panel holds two emotions at 1 and 2 SD.
    assert len(fig.axes[0].patches) == 4
    # No happiness in the data: the fourth panel says so rather than failing.
    assert "not both in this corpus" in fig.axes[3].texts[0].get_text()
    with pytest.raises(EmocircError, match="sadness"):
        plots.pairwise_panels(X, y, table.iloc[:1])
