"""The one plotting style: emotion colours, fonts, figure sizes."""

from __future__ import annotations

import matplotlib as mpl

#: One colour per canonical emotion, the same on every figure of the book.
EMOTION_COLORS: dict[str, str] = {
    "anger": "#d62728",
    "happiness": "#ff9f1c",
    "sadness": "#1f77b4",
    "neutral": "#7f7f7f",
    "fear": "#9467bd",
    "disgust": "#2ca02c",
    "boredom": "#8c564b",
    "excitement": "#e377c2",
    "frustration": "#bcbd22",
    "surprise": "#17becf",
    "other": "#c7c7c7",
}

#: Width of a full-page figure in inches.
FIGURE_WIDTH = 7.0


def emotion_color(label: str) -> str:
    """Colour of an emotion label (grey for labels outside the canonical set).

    Examples
    --------
    >>> emotion_color("anger")
    '#d62728'
    >>> emotion_color("unknown")
    '#4d4d4d'
    """
    return EMOTION_COLORS.get(label, "#4d4d4d")


def apply_style() -> None:
    """Set matplotlib's defaults to the book's style (call once per notebook or script)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (FIGURE_WIDTH, 4.5),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.25,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "font.size": 10,
        }
    )
