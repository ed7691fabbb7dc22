"""Pre-training figures: drawn from the backbone's own configuration, and bad input refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emocirc.backbones import builtin_config
from emocirc.errors import EmocircError
from emocirc.plotting import pretraining as ptplot


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.axes[0].texts)


def test_architecture_diagram_states_the_configuration_sizes():
    base = _texts(ptplot.architecture_diagram(builtin_config("base-random")))
    assert "12 layers of 768, 12 heads" in base and "512 channels" in base and "20 ms" in base
    assert "4 layers of 64" in _texts(ptplot.architecture_diagram(builtin_config("tiny")))
    with pytest.raises(EmocircError, match="conv_stride"):
        ptplot.architecture_diagram(object())


def test_objective_diagram_masks_the_frames_asked_and_names_the_task():
    fig = ptplot.objective_diagram(n_frames=6, masked=(1, 2), objective="hubert")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("[M]") == 2 and "z0" in texts and "z3" in texts and "z1" not in texts
    assert "k-means" in " ".join(texts)
    with pytest.raises(EmocircError, match="masked"):
        ptplot.objective_diagram(n_frames=4, masked=(4,))
    with pytest.raises(EmocircError, match="objective='bert'"):
        ptplot.objective_diagram(objective="bert")


def test_frame_output_labels_each_phoneme_run_once():
    phones = ["sil"] * 5 + ["a"] * 10 + ["b"] * 10 + ["a"] * 5
    fig = ptplot.frame_output(np.random.default_rng(0).normal(size=(30, 8)), phones=phones)
    assert [t.get_text() for t in fig.axes[0].texts] == ["a", "b", "a"]
    assert fig.axes[0].get_xlim() == (0.0, 30 / 50)
    with pytest.raises(EmocircError, match="expected 30 labels"):
        ptplot.frame_output(np.zeros((30, 8)), phones=["a"])
    with pytest.raises(EmocircError, match="T x n"):
        ptplot.frame_output(np.zeros((2, 30, 8)))


def test_probe_comparison_draws_one_line_per_model():
    t = pd.DataFrame({"layer": [2, 0, 1], "score": [0.6, 0.2, 0.5], "chance": 0.1})
    fig = ptplot.probe_comparison({"pre-trained": t, "random init": t.assign(score=0.2)})
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines[:2]] == ["pre-trained", "random init"]
    assert list(lines[0].get_xdata()) == [0, 1, 2] and list(lines[0].get_ydata()) == [0.2, 0.5, 0.6]
    with pytest.raises(EmocircError, match="at least one"):
        ptplot.probe_comparison({})
    with pytest.raises(EmocircError, match="missing columns"):
        ptplot.probe_comparison({"x": t.drop(columns="score")})


def test_pretraining_curves_skip_the_untrained_step_and_check_columns():
    log = pd.DataFrame(
        {
            "step": [0, 50, 100],
            "train_loss": [None, 3.0, 2.0],
            "held_out_loss": [4.0, 3.2, 2.4],
            "held_out_accuracy": [0.1, 0.3, 0.5],
        }
    )
    fig = ptplot.pretraining_curves(log)
    left, right = fig.axes
    assert [list(line.get_xdata()) for line in left.lines] == [[50, 100], [0, 50, 100]]
    assert list(right.lines[0].get_ydata()) == [10.0, 30.0, 50.0]
    with pytest.raises(EmocircError, match="held_out_accuracy"):
        ptplot.pretraining_curves(log.drop(columns="held_out_accuracy"))
