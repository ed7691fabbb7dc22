"""Figures of the layer-wise probes (:mod:`emocirc.probing`): score per hidden state."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emocirc.errors import EmocircError
from emocirc.plotting.style import apply_style

# One colour per probe target; targets are not emotions, so not emotion_color.
_TARGET_COLORS = {"label": "#1f77b4", "arousal": "#d62728", "valence": "#2ca02c"}
_METRIC_NAMES = {"unweighted_recall": "UA", "ccc": "CCC"}


def layer_scores(
    table: pd.DataFrame,
    ax: Any = None,
    title: str | None = None,
    chance: bool = True,
    intervals: pd.DataFrame | None = None,
) -> Figure:
    """Probe score per hidden state, one line per target, with a band around each line.

    ``table`` is what :func:`emocirc.probing.layer_probe` returns (columns
    ``layer``, ``target``, ``metric``, ``score``; ``chance`` is drawn when
    present).  The band is the 95 % speaker-bootstrap interval when
    ``intervals`` (what :func:`emocirc.probing.probe_intervals` returns:
    ``layer``, ``target``, ``ci_low``, ``ci_high``) is given; otherwise, when
    the table has ``fold_std``, it is the spread of the per-fold scores
    (plus or minus one standard deviation), which is not an interval.  A
    dotted line marks each target's chance level when it is above zero.

    Examples
    --------
    >>> t = pd.DataFrame({"layer": [0, 1, 2] * 2, "target": ["label"] * 3 + ["arousal"] * 3,
    ...                   "metric": ["unweighted_recall"] * 3 + ["ccc"] * 3,
    ...                   "score": [0.4, 0.6, 0.5, 0.2, 0.7, 0.6]})
    >>> fig = layer_scores(t)
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['label (UA)', 'arousal (CCC)']
    """
    missing = {"layer", "target", "metric", "score"} - set(table.columns)
    if missing:
        raise EmocircError(
            f"probe table: expected columns layer, target, metric, score; missing {sorted(missing)}"
        )
    if table.empty:
        raise EmocircError("probe table: expected at least one row, got none")
    if ax is None:
        apply_style()
        fig, ax = plt.subplots()
    else:
        fig = ax.figure
    for target, rows in table.groupby("target", sort=False):
        rows = rows.sort_values("layer")
        x = rows["layer"].to_numpy(int)
        y = rows["score"].to_numpy(float)
        color = _TARGET_COLORS.get(str(target), "#4d4d4d")
        metric = _METRIC_NAMES.get(str(rows["metric"].iloc[0]), str(rows["metric"].iloc[0]))
        ax.plot(x, y, marker="o", color=color, label=f"{target} ({metric})")
        if intervals is not None:
            band = intervals[intervals["target"] == target].sort_values("layer")
            if len(band):
                ax.fill_between(
                    band["layer"].to_numpy(int),
                    band["ci_low"].to_numpy(float),
                    band["ci_high"].to_numpy(float),
                    color=color,
                    alpha=0.15,
                    linewidth=0,
                )
        elif "fold_std" in rows and np.isfinite(rows["fold_std"].to_numpy(float)).any():
            spread = rows["fold_std"].to_numpy(float)
            ax.fill_between(x, y - spread, y + spread, color=color, alpha=0.15, linewidth=0)
        if chance and "chance" in rows and float(rows["chance"].iloc[0]) > 0:
            ax.axhline(float(rows["chance"].iloc[0]), color=color, linestyle=":", linewidth=1)
    ax.set_xticks(sorted(table["layer"].astype(int).unique()))
    ax.set_xlabel("hidden state (0 = CNN features, then transformer layers)")
    ax.set_ylabel("score on held-out speakers")
    ax.legend(loc="best")
    ax.set_title(title or "Linear probe score per hidden state")
    return fig


def layer_weights(weights: pd.DataFrame, ax: Any = None, title: str | None = None) -> Figure:
    """The weighted-sum probe's learned layer weights: mean over folds as bars, fold range as whiskers.

    ``weights`` is the second value :func:`emocirc.probing.weighted_layer_probe`
    returns (one row per fold, one column per hidden state).  A dotted line
    marks the uniform weight, 1 / number of hidden states.

    Examples
    --------
    >>> w = pd.DataFrame([[0.2, 0.7, 0.1], [0.3, 0.6, 0.1]], columns=[0, 4, 8])
    >>> fig = layer_weights(w)
    >>> [round(float(p.get_height()), 2) for p in fig.axes[0].patches]
    [0.25, 0.65, 0.1]
    """
    if weights.empty:
        raise EmocircError("layer weights: expected at least one fold, got none")
    values = weights.to_numpy(float)
    if not np.isfinite(values).all() or (values < 0).any():
        raise EmocircError("layer weights: expected finite, non-negative weights (a softmax per fold)")
    if ax is None:
        apply_style()
        fig, ax = plt.subplots()
    else:
        fig = ax.figure
    layers = np.asarray(weights.columns).astype(int)
    mean = values.mean(axis=0)
    spread = np.vstack([mean - values.min(axis=0), values.max(axis=0) - mean])
    ax.bar(layers, mean, color=_TARGET_COLORS["label"], yerr=spread, capsize=3, width=0.7)
    ax.axhline(1.0 / len(layers), color="#4d4d4d", linestyle=":", linewidth=1, label="uniform")
    ax.set_xticks(layers)
    ax.set_xlabel("hidden state (0 = CNN features, then transformer layers)")
    ax.set_ylabel("learned weight (softmax)")
    ax.legend(loc="best")
    ax.set_title(title or "Layer weights of the weighted-sum probe")
    return fig
