"""Figures of a fine-tuning run: training curves.

The confusion-matrix figure is :func:`emocirc.plotting.circumplex.confusion_matrix`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from emocirc.errors import EmocircError
from emocirc.plotting.style import FIGURE_WIDTH


def training_curves(log: pd.DataFrame, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Loss (left axis) and validation error (right axis) per epoch; the best epoch marked.

    Parameters
    ----------
    log:
        The run's ``log.csv`` (:func:`emocirc.runs.read_log`): columns
        ``epoch``, ``train_loss``, ``valid_loss``, ``valid_error``.
    ax:
        Axes to draw on (default: a new figure).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.3, 1.0], "valid_loss": [1.2, 1.1],
    ...                     "valid_error": [0.6, 0.5]})
    >>> fig = training_curves(log)
    >>> len(fig.axes)
    2
    """
    missing = {"epoch", "train_loss", "valid_loss", "valid_error"} - set(log.columns)
    if missing:
        raise EmocircError(
            f"training log lacks columns {sorted(missing)}: expected a log.csv of emocirc finetune"
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.5))
    fig = ax.figure
    ax.plot(log["epoch"], log["train_loss"], marker="o", color="0.25", label="train loss")
    ax.plot(log["epoch"], log["valid_loss"], marker="s", color="0.6", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("NLL loss")
    right = ax.twinx()
    right.plot(log["epoch"], 100 * log["valid_error"], marker="^", color="#d62728", label="validation error")
    best = int(log["valid_error"].to_numpy().argmin())
    right.axvline(log["epoch"].iloc[best], color="#d62728", ls=":", lw=1)
    right.set_ylabel("validation error (%)", color="#d62728")
    right.grid(False)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper right")
    ax.set_title(title or f"Training curves (best epoch {int(log['epoch'].iloc[best])}, dotted)")
    return fig
