"""``emocirc diary``: make a synthetic mood diary, map a diary onto the circumplex, or report on it.

``emocirc diary make OUT`` writes a synthetic diary (``<YYYY-MM-DD>/<HHMM>.wav``,
``manifest.csv``, ``segments.csv``) whose emotions drift from a varied tone
towards sadness and boredom.  ``emocirc diary map DIARY --out DIR`` cuts a
diary (synthetic, ``DIR/<YYYY-MM-DD>/*.wav``, or a CSV with ``path,day``)
into windows, embeds them, maps them onto valence x arousal with a mapping
fitted on a labelled corpus, and writes the per-day densities, summaries and
the heat-map figures.  ``emocirc diary report DIARY --out DIR`` writes a
self-contained HTML mood-monitoring report (speech per day, heat maps,
baseline z-scores with EWMA flags, affect dynamics) and its CSV tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emocirc.errors import EmocircError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``diary`` sub-command and its ``make``, ``map`` and ``report`` actions."""
    parser = subparsers.add_parser(
        "diary",
        help="mood diary: make a synthetic one, or draw a diary's emotional heat map",
        description=__doc__.split("\n\n")[0],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    make = actions.add_parser("make", help="write a synthetic mood diary", description=_make.__doc__)
    make.add_argument("out", metavar="OUT", help="folder to create")
    make.add_argument("--days", type=int, default=14, help="number of days (default 14)")
    make.add_argument("--per-day", type=int, default=3, help="recordings per day (default 3)")
    make.add_argument("--seconds", type=float, default=60.0, help="length of each recording (default 60)")
    make.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    make.add_argument("--start-date", default="2024-03-04", help="first day, YYYY-MM-DD")
    make.add_argument(
        "--voice",
        choices=("espeak", "tone"),
        default="espeak",
        help="eSpeak NG speech (default) or a test tone whose pitch and loudness follow arousal",
    )
    make.add_argument(
        "--change-day",
        type=int,
        default=None,
        help="day index (0-based) on which the mix switches to the diminished one (default: a gradual drift)",
    )
    make.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    make.set_defaults(func=_make)

    mapping = actions.add_parser("map", help="draw a diary's emotional heat map", description=_map.__doc__)
    mapping.add_argument("diary", metavar="DIARY", help="diary folder or CSV with path,day[,time][,speaker]")
    mapping.add_argument("--out", required=True, help="folder for the map (windows, densities, figures)")
    _add_mapping_args(mapping)
    mapping.set_defaults(func=_map)

    report = actions.add_parser(
        "report", help="write a mood-monitoring report (HTML and tables)", description=_report.__doc__
    )
    report.add_argument("diary", metavar="DIARY", help="diary folder or CSV with path,day[,time][,speaker]")
    report.add_argument("--out", required=True, help="folder for report.html and its CSV tables")
    _add_mapping_args(report, hop=3.0)
    report.add_argument(
        "--baseline-days", type=int, default=7, help="first days that make the personal baseline (default 7)"
    )
    report.add_argument(
        "--min-speech",
        type=float,
        default=20.0,
        help="seconds of speech a day needs to get a number (default 20)",
    )
    report.add_argument(
        "--boot", type=int, default=200, help="bootstrap resamples per interval (default 200)"
    )
    report.add_argument("--ewma-lambda", type=float, default=0.3, help="EWMA weight (default 0.3)")
    report.add_argument(
        "--limit", type=float, default=3.0, help="control limits in SDs of the EWMA (default 3)"
    )
    report.set_defaults(func=_report)


def _add_mapping_args(parser: argparse.ArgumentParser, hop: float = 1.5) -> None:
    parser.add_argument(
        "--backbone", default="tiny", help="backbone: tiny, base-random, a directory or a hub id"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--train",
        default="synthetic",
        help="labelled corpus to fit the valence-arousal mapping on (default: the synthetic IEMOCAP layout)",
    )
    source.add_argument(
        "--train-features",
        metavar="NPZ",
        help="features file from `emocirc extract` (same backbone) to fit the mapping on instead",
    )
    parser.add_argument("--train-format", default="auto", help="layout of --train (default: detect)")
    parser.add_argument(
        "--train-scale",
        type=float,
        default=1.0,
        help="size of the synthetic training corpus (1.0 = 900 utterances)",
    )
    parser.add_argument(
        "--layer", type=int, default=None, help="hidden state to use (default: the middle layer)"
    )
    parser.add_argument(
        "--method", choices=("ridge", "procrustes"), default="ridge", help="mapping (default ridge)"
    )
    parser.add_argument("--window", type=float, default=3.0, help="window length in seconds (default 3)")
    parser.add_argument("--hop", type=float, default=hop, help=f"window hop in seconds (default {hop:g})")
    parser.add_argument("--grid", type=int, default=50, help="density cells per axis (default 50)")
    parser.add_argument("--bandwidth", type=float, default=0.15, help="kernel width on the -1..1 plane")
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic training corpus and PCA")
    _add_vad(parser)


def _add_vad(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vad",
        choices=("auto", "silero", "energy"),
        default="auto",
        help="voice activity detector: silero (Silero VAD), energy (a level gate), "
        "auto = silero where installed (default)",
    )


def _make(args: argparse.Namespace) -> int:
    """Write a synthetic mood diary whose emotion mix drifts over the days."""
    from emocirc.diary import espeak_synthesizer, load_diary, make_diary, tone_synthesizer

    synthesizer = tone_synthesizer if args.voice == "tone" else espeak_synthesizer(seed=args.seed)
    root = make_diary(
        args.out,
        days=args.days,
        recordings_per_day=args.per_day,
        recording_s=args.seconds,
        seed=args.seed,
        start_date=args.start_date,
        synthesizer=synthesizer,
        overwrite=args.overwrite,
        change_day=args.change_day,
    )
    diary = load_diary(root)
    print(f"wrote {len(diary)} recordings over {diary['day'].nunique()} days to {root}")
    return 0


def _map(args: argparse.Namespace) -> int:
    """Place a diary's windows on the valence-arousal plane and draw a density per day."""
    from emocirc._io import atomic_path
    from emocirc.plotting.heatmap import plot_day_densities, plot_day_trajectory

    result, _ = _mapped(args)
    out = result.save(args.out)
    for name, fig in (
        ("heatmap.png", plot_day_densities(result)),
        ("trajectory.png", plot_day_trajectory(result.summary, truth=result.truth_summary())),
    ):
        with atomic_path(out / name, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    cols = ["day", "n_windows", "valence_mean", "arousal_mean", "spread", "intensity"]
    print(result.summary[cols].round(3).to_string(index=False))
    print(f"wrote the map of {len(result.windows)} windows over {len(result.days)} days to {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    """Write a mood-monitoring report: speech per day, heat maps, baseline z-scores, EWMA flags, affect dynamics.

    The report (``report.html``, self-contained) and its CSV tables are a
    research measurement of the voice, not a diagnosis.
    """
    from emocirc.diary_report import build_report, report_provenance, write_report

    if args.boot < 0:
        raise EmocircError(f"--boot {args.boot}: expected a number of resamples >= 0")
    result, train = _mapped(args)
    reports = build_report(
        result,
        baseline_days=args.baseline_days,
        min_speech_s=args.min_speech,
        n_boot=args.boot,
        ewma_lambda=args.ewma_lambda,
        ewma_L=args.limit,
        seed=args.seed,
    )
    provenance = report_provenance(args.diary, args.backbone, train, vad=str(result.params.get("vad", "")))
    out = write_report(reports, args.out, provenance)
    for rep in reports:
        who = f"{rep.person}: " if rep.person else ""
        counts = rep.daily["status"].value_counts()
        flagged = rep.flagged_days()
        print(
            f"{who}{counts.get('ok', 0)} day(s) measured, {counts.get('not enough speech', 0)} with not enough "
            f"speech, {counts.get('no recording', 0)} without a recording; flagged: {', '.join(flagged) or 'none'}"
        )
    print(f"wrote {out / 'report.html'} (voice activity detector: {result.params.get('vad')})")
    return 0


def _mapped(args: argparse.Namespace):
    """Load the diary, fit the mapping the arguments ask for, and map the diary; returns (map, training data)."""
    import matplotlib

    matplotlib.use("Agg")

    from emocirc.backbones import load_backbone
    from emocirc.diary import features_mapping, fit_corpus_mapping, load_diary, map_diary
    from emocirc.features import resolve_device

    if args.window <= 0 or args.hop <= 0:
        raise EmocircError(f"--window {args.window} --hop {args.hop}: expected positive seconds")
    diary = load_diary(args.diary)
    for name in diary.attrs.get("ignored", []):
        print(f"skipped sub-folder {name!r}: not named as a day (YYYY-MM-DD)")
    device = str(resolve_device(args.device))
    backbone = load_backbone(args.backbone, device=device)
    layer = backbone.num_layers // 2 if args.layer is None else args.layer
    if args.train_features:
        mapping, layer = features_mapping(
            args.train_features, layer=layer, method=args.method, seed=args.seed
        )
        train = args.train_features
    else:
        corpus = _training_corpus(args.train, args.train_format, args.seed, args.train_scale)
        mapping = fit_corpus_mapping(
            corpus, backbone, layer, method=args.method, device=device, seed=args.seed
        )
        train = corpus.attrs.get("root") if args.train == "synthetic" else args.train
    result = map_diary(
        diary,
        backbone,
        mapping,
        layer=layer,
        window_s=args.window,
        hop_s=args.hop,
        grid_size=args.grid,
        bandwidth=args.bandwidth,
        device=device,
        vad=args.vad,
    )
    result.params.update(
        {"backbone_spec": args.backbone, "mapping": args.method, "train": args.train_features or args.train}
    )
    return result, train


def _training_corpus(train: str, fmt: str, seed: int, scale: float):
    from emocirc.corpora import load_corpus

    if train == "synthetic":
        try:
            from emocirc.synth import ensure_corpus
        except ImportError as err:
            raise EmocircError(
                "--train synthetic: the synthetic corpora are not available in this installation; "
                "pass --train CORPUS_DIR or --train-features NPZ"
            ) from err
        root = ensure_corpus("iemocap", seed=seed, scale=scale)
    else:
        root = Path(train)
    return load_corpus(root, format=fmt)
