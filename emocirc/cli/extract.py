"""``emocirc extract DIR --out FEATURES.npz``: embed a corpus with a backbone.

Writes the features file documented in :mod:`emocirc.features` (arrays
``ids``, ``labels``, ``speakers``, ``embeddings`` N x L x D float32,
``layers``, ``valence``, ``arousal``).  Results are cached per utterance, so
a second run, or a run after an interruption, only computes what is missing.
With ``--window S`` each recording is cut into sliding windows and each
window becomes a row (``ids`` ``<id>@<start>``, plus ``starts``/``ends``).
A damaged audio file stops the command before any extraction, naming it;
``--skip-bad`` leaves such files out and lists them in the file's ``skipped``.

Under ``accelerate launch -m emocirc extract ...`` (several GPUs, machines
or CPU processes) each process embeds its share of the corpus into the
shared cache (:func:`emocirc.features.extract_features`'s ``shard``), and
after all have finished the main process assembles the features file from
the cache, in corpus order: the same file as a one-process run.  The cache
must then be on a filesystem that every machine sees.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from emocirc.corpora import FORMATS, load_corpus
from emocirc.errors import EmocircError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``extract`` sub-command."""
    parser = subparsers.add_parser(
        "extract",
        help="embed a corpus with a wav2vec2-family backbone (cached)",
        description=(
            "Mean-pooled hidden states of every utterance of a corpus, exact under batching, "
            "written as an .npz features file."
        ),
    )
    parser.add_argument("root", metavar="DIR", help="corpus folder (EMODB, IEMOCAP) or CSV manifest")
    parser.add_argument("--out", required=True, metavar="FEATURES.npz", help="features file to write")
    parser.add_argument(
        "--format", choices=("auto", *FORMATS), default="auto", help="layout (default: detect)"
    )
    parser.add_argument("--four-class", action="store_true", help="keep anger, happiness, sadness, neutral")
    parser.add_argument(
        "--model", default="tiny", metavar="ID|DIR|tiny|base-random", help="backbone (default: tiny)"
    )
    parser.add_argument("--layers", default="all", help="'all' or comma-separated hidden-state indices")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32", "int8"),  # emocirc.features.PRECISIONS (not imported: no torch here)
        default="auto",
        help="auto (bf16 where the device has it natively, else fp32), bf16, fp32 (exact), "
        "or int8 linear layers (CPU only, opt-in, for CPUs without bf16)",
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=None,
        metavar="S",
        help="padded audio per batch (default: 8 on a CPU, 600 on a GPU)",
    )
    parser.add_argument("--frames", action="store_true", help="also store frame-level hidden states")
    parser.add_argument(
        "--window", type=float, default=None, metavar="S", help="embed sliding windows of S s"
    )
    parser.add_argument(
        "--hop", type=float, default=None, metavar="S", help="window hop (default: window / 2)"
    )
    parser.add_argument(
        "--cache-dir", default=None, metavar="DIR", help="cache root (default: $EMOCIRC_CACHE)"
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out damaged or unreadable audio files, listed on stderr and in the features file "
        "(default: stop, naming them, before any extraction)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Extract features for the corpus and write them; return the exit status."""
    from emocirc.backbones import load_backbone
    from emocirc.features import (
        Features,
        extract_features,
        extract_windows,
        resolve_device,
        save_features,
    )

    out = Path(args.out)
    if out.suffix != ".npz":
        raise EmocircError(f"--out {out}: expected a file name ending in .npz")
    df = load_corpus(args.root, format=args.format, four_class=args.four_class, skip_bad=args.skip_bad)
    for problem in df.attrs.get("problems", []):
        print(f"emocirc: warning: {problem}", file=sys.stderr)
    if len(df) == 0:
        raise EmocircError(f"{args.root}: no readable utterances; expected at least one")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        return _run_sharded(args, out, df, world)
    device = resolve_device(args.device)
    backbone = load_backbone(args.model, device)
    if backbone.checkpoint is not None:
        print(f"emocirc: {args.model}: {backbone.checkpoint.describe()}", file=sys.stderr)
    common = {
        "layers": args.layers,
        "device": device,
        "precision": args.precision,
        "batch_seconds": args.batch_seconds,
        "cache": not args.no_cache,
        "cache_dir": args.cache_dir,
    }
    started = time.perf_counter()
    if args.window is None:
        feats = extract_features(
            df, backbone, frames=args.frames, skip_bad=args.skip_bad, progress=not args.quiet, **common
        )
    else:
        feats = _windows(df, backbone, args, common, extract_windows, Features)
    return _report(args, out, df, feats, time.perf_counter() - started, save_features)


def _report(args, out, df, feats, elapsed, save_features, where: str = "") -> int:
    """List what was skipped, write the features file and say what it holds."""
    if args.window is None:  # files the corpus load left out come first (the windows path has them)
        feats.skipped = [*df.attrs.get("skipped", []), *feats.skipped]
    for problem in feats.skipped:
        print(f"emocirc: skipped: {problem}", file=sys.stderr)
    save_features(out, feats)
    audio = float(df["duration"].sum())
    print(
        f"{out}: {len(feats)} rows x {len(feats.layers)} layers x {feats.embeddings.shape[-1]} dims "
        f"({feats.info['backbone']}, {feats.info['precision']}); {audio:.1f} s of audio in {elapsed:.1f} s"
        + (f" on {where}" if where else "")
        + (f"; skipped {len(feats.skipped)}" if feats.skipped else "")
    )
    return 0


def _run_sharded(args: argparse.Namespace, out: Path, df, world: int) -> int:
    """One process of ``accelerate launch``: embed this rank's shard, then (rank 0) assemble the file.

    Every process ends with the same exit status: a bad file in any shard
    stops them all, and the main process prints it.
    """
    from accelerate import PartialState
    from accelerate.utils import gather_object

    from emocirc.backbones import load_backbone
    from emocirc.features import extract_features, extract_windows

    if args.no_cache:
        raise EmocircError(
            "--no-cache: a multi-process extraction hands its results over through the cache; "
            "expected the cache on (with --cache-dir on a filesystem every process sees)"
        )
    state = PartialState(cpu=args.device == "cpu")
    rank = state.process_index
    # Each process takes the device accelerate gave it (cuda:<local rank>, or the CPU).
    device = state.device if args.device in ("auto", "cuda") else args.device
    backbone = load_backbone(args.model, device)
    common = {
        "layers": args.layers,
        "device": device,
        "precision": args.precision,
        "batch_seconds": args.batch_seconds,
        "cache_dir": args.cache_dir,
    }
    started = time.perf_counter()
    problem = ""
    try:
        if args.window is None:
            extract_features(
                df,
                backbone,
                frames=args.frames,
                skip_bad=args.skip_bad,
                progress=not args.quiet and rank == 0,
                shard=(rank, world),
                **common,
            )
        else:
            shard = df.iloc[rank::world]
            if len(shard):
                _windows(shard, backbone, args, common, extract_windows, None)
    except EmocircError as err:
        problem = f"process {rank}: {err}"
    problems = [p for p in gather_object([problem]) if p]  # also waits for every process
    if problems:
        if rank == 0:
            raise EmocircError(
                problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            )
        return 2
    if rank != 0:
        return 0
    return _assemble(args, out, df, backbone, common, started, world)


def _assemble(args, out, df, backbone, common, started, world) -> int:
    """The main process: the whole features file from the cache the shards filled."""
    from emocirc.features import Features, extract_features, extract_windows, save_features

    if args.window is None:
        feats = extract_features(df, backbone, frames=args.frames, skip_bad=args.skip_bad, **common)
        computed = int(feats.info.get("computed", "0"))
        if computed:
            print(
                f"emocirc: warning: {computed} utterances were not in the cache after the {world} "
                "processes had run and were computed again here; is --cache-dir on a filesystem "
                "every machine shares?",
                file=sys.stderr,
            )
    else:
        feats = _windows(df, backbone, args, common, extract_windows, Features)
    return _report(args, out, df, feats, time.perf_counter() - started, save_features, f"{world} processes")


def _windows(df, backbone, args, common, extract_windows, features_cls):
    """Every recording in sliding windows, one row per window, metadata repeated (``features_cls``
    None: only fill the cache)."""
    hop = args.hop if args.hop is not None else args.window / 2
    parts, skipped = [], [str(s) for s in df.attrs.get("skipped", [])]
    for row in df.itertuples(index=False):
        try:
            part = extract_windows(row.path, backbone, window=args.window, hop=hop, **common)
        except EmocircError as err:
            if not args.skip_bad:
                raise
            skipped.append(str(err))
            continue
        n = len(part)
        part.ids = np.array([f"{row.id}@{s:.2f}" for s in part.starts], dtype=str)
        part.labels = np.full(n, str(row.label))
        part.speakers = np.full(n, str(row.speaker))
        part.valence = np.full(n, float(getattr(row, "valence", np.nan)))
        part.arousal = np.full(n, float(getattr(row, "arousal", np.nan)))
        parts.append(part)
    if features_cls is None:
        return None
    if not parts:
        raise EmocircError(f"{args.root}: no recording could be embedded")
    return features_cls(
        ids=np.concatenate([p.ids for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        speakers=np.concatenate([p.speakers for p in parts]),
        embeddings=np.concatenate([p.embeddings for p in parts]),
        layers=parts[0].layers,
        valence=np.concatenate([p.valence for p in parts]),
        arousal=np.concatenate([p.arousal for p in parts]),
        starts=np.concatenate([p.starts for p in parts]),
        ends=np.concatenate([p.ends for p in parts]),
        skipped=skipped,
        info=parts[0].info,
    )
