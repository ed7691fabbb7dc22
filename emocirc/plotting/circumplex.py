"""Figures of the circumplex analysis, in the book's one style.

Scatter of utterances by emotion (2-D or 3-D), per-emotion Gaussian ellipses
at 1 and 2 standard deviations (seed Figures 18-21), explained variance
(Figure 16), Russell's circumplex with its eight anchors (Figure 2) and 28
words at their derived angles (Figure 5) plus projected emotion centroids,
a Mahalanobis heat map with bootstrap intervals, and confusion matrices.
Every function takes data and an optional ``ax`` and returns the Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse

from emocirc.errors import EmocircError
from emocirc.labels import label_order
from emocirc.plotting.style import apply_style, emotion_color
from emocirc.russell import CATEGORY_ANGLES, word_angles


def _axes(ax: Any = None, projection: str | None = None, figsize: tuple[float, float] | None = None):
    if ax is not None:
        return ax.figure, ax
    apply_style()
    fig = plt.figure(figsize=figsize)
    return fig, fig.add_subplot(111, projection=projection)


def _coords_labels(coords: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels).astype(str)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise EmocircError(f"coords: expected utterances x (2 or more) dimensions, got shape {coords.shape}")
    if labels.shape != (len(coords),):
        raise EmocircError(f"labels: expected {len(coords)} labels, got shape {labels.shape}")
    return coords, labels


def scatter(
    coords: Any,
    labels: Any,
    ax: Any = None,
    dims: int | None = None,
    title: str | None = None,
    axis_labels: Sequence[str] = ("PC1", "PC2", "PC3"),
) -> Figure:
    """Utterances coloured by emotion, in 2-D or 3-D (``dims``; the array's width by default, at most 3).

    Examples
    --------
    >>> fig = scatter(np.random.default_rng(0).normal(size=(20, 3)), ["anger"] * 10 + ["sadness"] * 10)
    >>> fig.axes[0].name
    '3d'
    """
    coords, labels = _coords_labels(coords, labels)
    dims = min(coords.shape[1], 3) if dims is None else dims
    if dims not in (2, 3) or dims > coords.shape[1]:
        raise EmocircError(f"dims={dims}: expected 2 or 3, at most the {coords.shape[1]} columns given")
    fig, ax = _axes(ax, "3d" if dims == 3 else None)
    for lab in label_order(np.unique(labels).tolist()):
        pts = coords[labels == lab]
        cols = [pts[:, i] for i in range(dims)]
        ax.scatter(*cols, s=12, alpha=0.7, color=emotion_color(lab), label=lab)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if dims == 3:
        ax.set_zlabel(axis_labels[2])
    ax.legend(loc="best", markerscale=1.5)
    if title:
        ax.set_title(title)
    return fig


def _ellipse(mean: np.ndarray, cov: np.ndarray, n_std: float, **kwargs: Any) -> Ellipse:
    values, vectors = np.linalg.eigh(cov)
    order = values.argsort()[::-1]
    values, vectors = values[order], vectors[:, order]
    angle = np.degrees(np.arctan2(vectors[1, 0], vectors[0, 0]))
    width, height = 2 * n_std * np.sqrt(np.maximum(values, 0.0))
    return Ellipse(xy=mean, width=width, height=height, angle=angle, **kwargs)


def gaussian_ellipses(
    coords: Any,
    labels: Any,
    ax: Any = None,
    n_std: Sequence[float] = (1.0, 2.0),
    points: bool = True,
    title: str | None = None,
) -> Figure:
    """Each emotion's Gaussian (mean, full covariance of the first two dimensions) as ellipses.

    The solid ellipse is at ``n_std[0]`` standard deviations, dashed ones at
    the others (the seed's Figures 18-21 draw 1 and 2).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = gaussian_ellipses(rng.normal(size=(30, 2)), ["anger"] * 15 + ["neutral"] * 15)
    >>> len(fig.axes[0].patches)
    4
    """
    coords, labels = _coords_labels(coords, labels)
    fig, ax = _axes(ax)
    for lab in label_order(np.unique(labels).tolist()):
        pts = coords[labels == lab, :2]
        color = emotion_color(lab)
        if points:
            ax.scatter(pts[:, 0], pts[:, 1], s=8, alpha=0.35, color=color)
        mean = pts.mean(axis=0)
        cov = np.cov(pts, rowvar=False) if len(pts) > 1 else np.zeros((2, 2))
        for i, k in enumerate(n_std):
            ax.add_patch(
                _ellipse(
                    mean,
                    cov,
                    k,
                    fill=False,
                    color=color,
                    lw=1.8 if i == 0 else 1.0,
                    ls="-" if i == 0 else "--",
                    label=lab if i == 0 else None,
                )
            )
        ax.plot(*mean, marker="x", color=color, ms=8, mew=2)
    ax.autoscale_view()
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best")
    ax.set_title(title or f"Gaussian per emotion: {' and '.join(f'{k:g}' for k in n_std)} SD")
    return fig


#: The seed's Figures 18-21: the emotion pairs it drew one Gaussian pair for.
SEED_PAIRS: tuple[tuple[str, str], ...] = (
    ("anger", "boredom"),
    ("sadness", "boredom"),
    ("anger", "fear"),
    ("anger", "happiness"),
)


def pairwise_panels(
    coords: Any,
    labels: Any,
    table: pd.DataFrame,
    pairs: Sequence[tuple[str, str]] = SEED_PAIRS,
    n_std: Sequence[float] = (1.0, 2.0),
    title: str | None = None,
    figure_numbers: Sequence[int] | None = (18, 19, 20, 21),
) -> Figure:
    """One panel per pair of emotions, their two Gaussians and their distance with its interval.

    ``table`` has columns ``a``, ``b``, ``distance``, ``ci_low``, ``ci_high``
    (:func:`emocirc.circumplex.mahalanobis_table` or ``Analysis.mahalanobis``);
    each panel's title gives the pair's distance and interval.  A pair with
    an emotion absent from ``labels`` gets a panel that says so.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)) + np.repeat([[0, 0], [3, 0], [0, 3]], 20, axis=0)
    >>> y = np.repeat(["anger", "boredom", "fear"], 20)
    >>> t = pd.DataFrame({"a": ["anger", "anger"], "b": ["boredom", "fear"], "distance": [3.1, 2.9],
    ...                   "ci_low": [2.5, 2.2], "ci_high": [3.6, 3.5]})
    >>> fig = pairwise_panels(X, y, t, pairs=[("anger", "boredom"), ("anger", "fear")], figure_numbers=None)
    >>> fig.axes[0].get_title()
    'anger x boredom: D = 3.10 [2.50, 3.60]'
    """
    coords, labels = _coords_labels(coords, labels)
    if figure_numbers is not None and len(figure_numbers) != len(pairs):
        raise EmocircError(
            f"figure_numbers: expected {len(pairs)} numbers, one per pair, got {len(figure_numbers)}"
        )
    lookup = {}
    for row in table.itertuples():
        lookup[(row.a, row.b)] = lookup[(row.b, row.a)] = row
    apply_style()
    cols = min(2, len(pairs))
    rows = int(np.ceil(len(pairs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.6 * rows), squeeze=False)
    for n, (a, b) in enumerate(pairs):
        ax = axes.flat[n]
        head = f"Figure {figure_numbers[n]}: " if figure_numbers is not None else ""
        mask = np.isin(labels, [a, b])
        present = {a, b} <= set(labels[mask].tolist())
        if not present:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{a} x {b}: not both in this corpus", ha="center", va="center")
            continue
        row = lookup.get((a, b))
        if row is None:
            raise EmocircError(f"table: expected a row for the pair {a!r}-{b!r}")
        ci = f" [{row.ci_low:.2f}, {row.ci_high:.2f}]" if np.isfinite(row.ci_low) else ""
        gaussian_ellipses(
            coords[mask],
            labels[mask],
            ax=ax,
            n_std=n_std,
            title=f"{head}{a} x {b}: D = {row.distance:.2f}{ci}",
        )
    for ax in list(axes.flat)[len(pairs) :]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def explained_variance(ratio: Any, ax: Any = None, title: str | None = None) -> Figure:
    """Explained variance ratio per component (bars) with its cumulative curve (the seed's Figure 16).

    Examples
    --------
    >>> fig = explained_variance([0.4, 0.2, 0.1])
    >>> [round(float(v), 2) for v in fig.axes[0].lines[0].get_ydata()]
    [0.4, 0.6, 0.7]
    """
    ratio = np.asarray(ratio, dtype=float).ravel()
    if ratio.size == 0:
        raise EmocircError("explained variance: expected at least one ratio")
    fig, ax = _axes(ax)
    k = np.arange(1, ratio.size + 1)
    ax.bar(k, ratio, color="#7f7f7f", alpha=0.7, label="per component")
    ax.plot(k, np.cumsum(ratio), marker="o", color="#1f77b4", label="cumulative")
    ax.set_xticks(k)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax.legend(loc="center right")
    ax.set_title(title or "Explained variance of the principal components")
    return fig


def _as_positions(centroids: Any) -> dict[str, tuple[float, float]]:
    if isinstance(centroids, pd.DataFrame):
        return {str(k): (float(r["valence"]), float(r["arousal"])) for k, r in centroids.iterrows()}
    if isinstance(centroids, Mapping):
        return {str(k): (float(v[0]), float(v[1])) for k, v in centroids.items()}
    raise EmocircError(
        "centroids: expected a mapping label -> (valence, arousal) or a DataFrame with those columns"
    )


def circumplex_diagram(
    ax: Any = None,
    anchors: bool = True,
    words: bool = True,
    centroids: Any = None,
    points: Any = None,
    point_labels: Any = None,
    title: str | None = None,
) -> Figure:
    """Russell's circumplex: the 8 category anchors (Figure 2), the 28 words at their derived angles (Figure 5).

    Parameters
    ----------
    centroids:
        Projected emotion centroids to overlay, label -> (valence, arousal)
        in the reference's -1..1 units (or a DataFrame with ``valence`` and
        ``arousal`` columns).
    points, point_labels:
        Projected utterances (utterances x 2) and their labels, drawn faintly.

    Examples
    --------
    >>> fig = circumplex_diagram(centroids={"anger": (-0.3, 0.8)})
    >>> any(t.get_text() == "Angry" for t in fig.axes[0].texts)
    True
    """
    fig, ax = _axes(ax, figsize=(6.0, 6.0))
    ax.add_patch(Circle((0, 0), 1.0, fill=False, color="#bbbbbb", lw=1))
    ax.axhline(0, color="#999999", lw=0.8)
    ax.axvline(0, color="#999999", lw=0.8)
    if anchors:
        for name, deg in CATEGORY_ANGLES.items():
            t = np.deg2rad(deg)
            ax.text(
                1.22 * np.cos(t),
                1.22 * np.sin(t),
                name.upper(),
                ha="center",
                va="center",
                fontsize=8,
                color="#444444",
            )
    if words:
        for word, row in word_angles().iterrows():
            t = np.deg2rad(row["angle_deg"])
            ax.plot(np.cos(t), np.sin(t), "o", ms=3, color="#555555")
            ax.text(
                1.06 * np.cos(t),
                1.06 * np.sin(t),
                str(word),
                fontsize=6.5,
                color="#555555",
                ha="left" if np.cos(t) >= 0 else "right",
                va="center",
                rotation=0,
            )
    if points is not None:
        pts = np.asarray(points, dtype=float)
        labs = np.asarray(point_labels).astype(str) if point_labels is not None else np.full(len(pts), "")
        for lab in label_order(np.unique(labs).tolist()):
            sel = pts[labs == lab]
            ax.scatter(sel[:, 0], sel[:, 1], s=6, alpha=0.25, color=emotion_color(lab))
    if centroids is not None:
        for lab, (v, a) in _as_positions(centroids).items():
            if np.isfinite(v) and np.isfinite(a):
                ax.plot(
                    v,
                    a,
                    marker="*",
                    ms=14,
                    color=emotion_color(lab),
                    mec="black",
                    mew=0.6,
                    ls="none",
                    label=lab,
                )
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xlim(-1.45, 1.45)
    ax.set_ylim(-1.45, 1.45)
    ax.set_aspect("equal")
    ax.set_xlabel("valence (pleasure)")
    ax.set_ylabel("arousal")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return fig


def mahalanobis_heatmap(table: pd.DataFrame, ax: Any = None, title: str | None = None) -> Figure:
    """Pairwise Mahalanobis distances as a heat map, each cell annotated with its 95 % interval.

    ``table`` has columns ``a``, ``b``, ``distance``, ``ci_low``, ``ci_high``
    (:func:`emocirc.circumplex.mahalanobis_table`).

    Examples
    --------
    >>> t = pd.DataFrame({"a": ["anger"], "b": ["sadness"], "distance": [3.0], "ci_low": [2.5], "ci_high": [3.4]})
    >>> fig = mahalanobis_heatmap(t)
    >>> fig.axes[0].texts[0].get_text()
    '3.00\\n[2.50, 3.40]'
    """
    missing = {"a", "b", "distance", "ci_low", "ci_high"} - set(table.columns)
    if missing:
        raise EmocircError(
            f"Mahalanobis table: expected columns a, b, distance, ci_low, ci_high; missing {sorted(missing)}"
        )
    classes = label_order(set(table["a"]) | set(table["b"]))
    k = len(classes)
    idx = {c: i for i, c in enumerate(classes)}
    mat = np.full((k, k), np.nan)
    np.fill_diagonal(mat, 0.0)
    fig, ax = _axes(ax, figsize=(1.1 * k + 2.5, 1.0 * k + 1.5))
    cells = []
    for row in table.itertuples():
        i, j = idx[row.a], idx[row.b]
        mat[i, j] = mat[j, i] = row.distance
        cells.append((i, j, row))
    im = ax.imshow(mat, cmap="viridis")
    vmax = np.nanmax(mat) if np.isfinite(mat).any() else 1.0
    for i, j, row in cells:
        ci = f"\n[{row.ci_low:.2f}, {row.ci_high:.2f}]" if np.isfinite(row.ci_low) else ""
        color = "black" if row.distance > 0.6 * vmax else "white"
        ax.text(j, i, f"{row.distance:.2f}{ci}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="Mahalanobis distance")
    ax.set_title(title or "Mahalanobis distance between emotions (95 % speaker-bootstrap interval)")
    return fig


def confusion_matrix(
    cm: Any, labels: Sequence[str], ax: Any = None, normalize: bool = True, title: str | None = None
) -> Figure:
    """A confusion matrix (rows true, columns predicted), row-normalised to recall by default.

    Examples
    --------
    >>> fig = confusion_matrix([[8, 2], [1, 9]], ["anger", "sadness"])
    >>> fig.axes[0].texts[0].get_text()
    '0.80\\n(8)'
    """
    counts = np.asarray(cm, dtype=float)
    k = len(labels)
    if counts.shape != (k, k):
        raise EmocircError(
            f"confusion matrix: expected shape ({k}, {k}) for labels {list(labels)}, got {counts.shape}"
        )
    totals = counts.sum(axis=1, keepdims=True)
    shown = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0) if normalize else counts
    fig, ax = _axes(ax, figsize=(1.0 * k + 2.5, 1.0 * k + 1.5))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    top = shown.max() if shown.size else 1.0
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}\n({int(counts[i, j])})" if normalize else f"{int(counts[i, j])}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shown[i, j] > 0.5 * top else "black",
            )
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="recall" if normalize else "utterances")
    if title:
        ax.set_title(title)
    return fig
