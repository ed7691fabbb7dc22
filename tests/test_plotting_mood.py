"""Tests of emocirc.plotting.mood: the control chart and the day x time-of-day speech grid."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from emocirc.errors import EmocircError
from emocirc.mood import mood_chart
from emocirc.plotting import mood as PM


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _chart():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0, 0.05, 10), [np.nan], rng.normal(-0.5, 0.05, 5)])
    status = ["ok"] * 10 + ["not enough speech"] + ["ok"] * 5
    daily = pd.DataFrame(
        {
            "day": [f"2024-03-{d:02d}" for d in range(4, 20)],
            "status": status,
            "valence_mean": v,
            "valence_mean_se": 0.03,
            "arousal_mean": rng.normal(0, 0.05, 16),
            "arousal_mean_se": 0.03,
        }
    )
    return mood_chart(daily, baseline_days=7)


def test_control_chart_draws_limits_flags_and_the_change():
    chart = _chart()
    fig = PM.plot_control_chart(chart, change_day=11)
    assert [ax.get_ylabel() for ax in fig.axes] == ["valence (z)", "arousal (z)"]
    ax = fig.axes[0]
    flags = [line for line in ax.lines if line.get_label() == "flag"][0]
    assert len(flags.get_xdata()) == int(chart["valence_mean_flag"].sum()) > 0
    assert min(flags.get_xdata()) >= 11
    assert any(t.get_text() == "no speech" for t in ax.texts)
    assert any(line.get_label() == "true change" for line in ax.lines)
    with pytest.raises(EmocircError, match="mood_chart output"):
        PM.plot_control_chart(chart, measures=["range"])


def test_speech_grid_numbers_and_missing_cells():
    rec = pd.DataFrame(
        {
            "day": ["2024-03-04", "2024-03-04", "2024-03-04", "2024-03-06"],
            "time": ["09:00", "10:30", "", "18:15"],
            "speech_s": [10.0, 5.0, 3.0, 2.0],
        }
    )
    days = ["2024-03-04", "2024-03-05", "2024-03-06"]
    grid = PM.speech_grid(rec, days, slot_hours=3)
    assert grid.columns.tolist() == ["09-12", "18-21", "?"]
    assert grid.loc["2024-03-04", "09-12"] == 15.0 and np.isnan(grid.loc["2024-03-04", "18-21"])
    assert grid.loc["2024-03-05"].isna().all()
    fig = PM.plot_speech_grid(rec, days, min_speech_s=5.0)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["2024-03-04", "2024-03-05 (no recording)", "2024-03-06 (not enough speech)"]
    assert "15" in [t.get_text() for t in fig.axes[0].texts]
    with pytest.raises(EmocircError, match="slot_hours=0"):
        PM.speech_grid(rec, days, slot_hours=0)
    with pytest.raises(EmocircError, match="missing column 'time'"):
        PM.speech_grid(rec.drop(columns="time"), days)
