"""The layer-probe figure draws one line per target at the scores it is given."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from emocirc.errors import EmocircError
from emocirc.plotting.layers import layer_scores


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _table():
    return pd.DataFrame(
        {
            "layer": [2, 0, 1] * 2,
            "target": ["label"] * 3 + ["arousal"] * 3,
            "metric": ["unweighted_recall"] * 3 + ["ccc"] * 3,
            "score": [0.5, 0.3, 0.6, 0.4, 0.1, 0.8],
            "fold_std": [0.05] * 6,
            "chance": [0.25] * 3 + [0.0] * 3,
        }
    )


def test_one_line_per_target_in_layer_order_with_chance_and_bands(tmp_path):
    fig = layer_scores(_table(), title="probe")
    ax = fig.axes[0]
    label_line, arousal_line = ax.lines[0], ax.lines[2]
    assert label_line.get_label() == "label (UA)"
    assert label_line.get_xdata().tolist() == [0, 1, 2]
    assert np.allclose(label_line.get_ydata(), [0.3, 0.6, 0.5])
    assert arousal_line.get_label() == "arousal (CCC)"
    assert np.allclose(arousal_line.get_ydata(), [0.1, 0.8, 0.4])
    # Chance line for UA only (CCC's chance is 0 and not drawn).
    chance_lines = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert len(chance_lines) == 1 and np.allclose(chance_lines[0].get_ydata(), 0.25)
    assert len(ax.collections) == 2  # one fold-spread band per target
    assert ax.get_title() == "probe"
    assert [int(t) for t in ax.get_xticks()] == [0, 1, 2]
    fig.savefig(tmp_path / "layers.png")
    assert (tmp_path / "layers.png").stat().st_size > 1000


def test_draws_on_a_given_axis_and_rejects_bad_tables():
    fig, (a, b) = plt.subplots(1, 2)
    assert layer_scores(_table(), ax=b) is fig
    assert not a.lines and len(b.lines) == 3
    with pytest.raises(EmocircError, match="missing"):
        layer_scores(pd.DataFrame({"layer": [0], "score": [1.0]}))
    with pytest.raises(EmocircError, match="no"):
        layer_scores(_table().iloc[:0])


def test_layer_weights_bars_are_fold_means_with_the_uniform_line():
    from emocirc.plotting.layers import layer_weights

    w = pd.DataFrame([[0.1, 0.6, 0.3], [0.3, 0.4, 0.3]], columns=[0, 2, 4])
    ax = layer_weights(w, title="t").axes[0]
    assert [round(p.get_height(), 3) for p in ax.patches] == [0.2, 0.5, 0.3]
    assert [round(p.get_x() + p.get_width() / 2) for p in ax.patches] == [0, 2, 4]
    uniform = [line for line in ax.lines if line.get_label() == "uniform"]
    assert uniform and uniform[0].get_ydata()[0] == pytest.approx(1 / 3)
    with pytest.raises(EmocircError, match="non-negative"):
        layer_weights(pd.DataFrame([[0.5, -0.1]], columns=[0, 1]))


def test_bands_are_the_given_intervals_not_the_fold_spread():
    ci = pd.DataFrame(
        {
            "layer": [1, 0, 2],
            "target": ["label"] * 3,
            "ci_low": [0.5, 0.2, 0.45],
            "ci_high": [0.7, 0.4, 0.55],
        }
    )
    ax = layer_scores(_table(), intervals=ci).axes[0]
    bands = ax.collections
    assert len(bands) == 1  # only the target with intervals gets a band; no fold-spread band
    path = bands[0].get_paths()[0].vertices
    assert np.isclose(path[:, 1].min(), 0.2) and np.isclose(path[:, 1].max(), 0.7)
    assert set(np.round(path[:, 0], 6)) == {0.0, 1.0, 2.0}
