"""Figures, in one style (:mod:`emocirc.plotting.style`).

Each topic has a module of its own; every function takes the data it draws
and an optional matplotlib ``ax`` and returns the ``Figure``.
"""

from emocirc.plotting.style import EMOTION_COLORS, apply_style, emotion_color

__all__ = ["EMOTION_COLORS", "apply_style", "emotion_color"]
