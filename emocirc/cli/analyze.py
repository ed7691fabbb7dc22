"""``emocirc analyze``: circumplex statistics and figures of a features file.

Writes ``analysis.json`` (explained variance, centroids, pairwise Mahalanobis
distances with bootstrap intervals, polar coordinates, angular order and its
agreement with the circumplex, the Procrustes mapping, and CCC of the
automatic and ridge mappings where the file has valence/arousal) and the
figures as PNG, each file written atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emocirc._io import atomic_path, write_json
from emocirc.russell import REFERENCES, expected_positions


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` sub-command."""
    p = subparsers.add_parser(
        "analyze",
        help="PCA, Gaussians, Mahalanobis distances and circumplex order of a features file",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("features", type=Path, help="features .npz written by 'emocirc extract'")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--layer", type=int, default=None, help="hidden-state layer (default: the last in the file)"
    )
    p.add_argument(
        "--dims", type=int, choices=(2, 3), default=2, help="PCA dimensions for Gaussians/distances"
    )
    # No `choices` from emocirc.circumplex: importing it (scikit-learn) here would slow every
    # sub-command's start-up; analyze() names the value and the choices of a wrong one.
    p.add_argument(
        "--origin", default="grand-mean", help="origin of the polar coordinates: grand-mean or neutral"
    )
    p.add_argument(
        "--reference", choices=REFERENCES, default="russell", help="expected positions of the emotions"
    )
    p.add_argument(
        "--standardize", action="store_true", help="scale embedding dimensions to unit variance before PCA"
    )
    p.add_argument(
        "--fit-on", type=Path, default=None, help="fit the PCA on this other features file (transfer)"
    )
    p.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples for the intervals (default 1000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and permutations")
    p.add_argument("--no-figures", action="store_true", help="write analysis.json only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the analysis and write ``analysis.json`` and the figures to ``args.out``."""
    from emocirc.circumplex import analyze

    result = analyze(
        args.features,
        layer=args.layer,
        dims=args.dims,
        origin=args.origin,
        reference=args.reference,
        standardize=args.standardize,
        n_boot=args.n_boot,
        seed=args.seed,
        fit_on=args.fit_on,
    )
    out = Path(args.out)
    data = result.to_dict()
    data["features"] = str(args.features)
    figures = [] if args.no_figures else _write_figures(result, out)
    data["figures"] = figures
    write_json(out / "analysis.json", data)
    order = ", ".join(result.order)
    agree = result.order_agreement
    summary = f"order: {order}"
    if agree is not None:
        summary += f"; agreement {agree.statistic:.2f} (p = {agree.p_value:.3f})"
    print(f"wrote {out / 'analysis.json'} ({summary})")
    for line in plane_lines(result):
        print(line)
    return 0


def plane_lines(result) -> list[str]:
    """The plane's variance shares and whether its angular order can be read.

    The verdict is :func:`emocirc.circumplex.order_identifiability`'s, the
    rule chapter 7 states (second axis at least
    :data:`~emocirc.circumplex.MIN_SECOND_SHARE` of the plane's variance,
    every pair of neighbouring centres resolved by its speaker-bootstrap
    interval); "not identifiable" means the order printed above is not a
    finding.
    """
    lines = []
    shares = result.variance_share
    if shares is not None:
        parts = []
        for axis, row in shares.iterrows():
            part = f"{axis} {row['share']:.1%}"
            if np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"]):
                part += f" [{row['ci_low']:.1%}, {row['ci_high']:.1%}]"
            parts.append(part)
        lines.append("plane variance shares: " + ", ".join(parts))
    check = result.order_check
    if check is not None:
        lines.append(check.sentence())
    return lines


def _write_figures(result, out: Path) -> list[str]:
    # Imported here so that 'emocirc --help' stays fast.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emocirc.plotting import circumplex as plots

    figures = {
        "explained_variance.png": lambda: plots.explained_variance(result.pca.explained_variance_ratio_),
        "scatter.png": lambda: plots.scatter(
            result.coords, result.labels, title=f"PCA of layer {result.layer}"
        ),
        "ellipses.png": lambda: plots.gaussian_ellipses(result.coords, result.labels),
        "mahalanobis.png": lambda: plots.mahalanobis_heatmap(result.mahalanobis),
    }
    if result.mapping is not None:
        centroids = result.mapping.centroid_positions()
        figures["circumplex.png"] = lambda: plots.circumplex_diagram(
            centroids=centroids,
            points=result.projected,
            point_labels=result.labels,
            title=f"Projected centroids (Procrustes onto {result.reference})",
        )
        figures["expected.png"] = lambda: plots.circumplex_diagram(
            centroids=expected_positions(result.mapping.labels_, result.reference),
            title=f"Expected positions ({result.reference})",
        )
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in figures.items():
        fig = draw()
        with atomic_path(out / name, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(name)
    return written
