"""``emocirc finetune DIR --out OUT``: the seed's partial fine-tuning, resumable."""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` sub-command."""
    from emocirc.finetune_config import MODES, PROTOCOLS, FinetuneConfig

    defaults = FinetuneConfig()
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a wav2vec2-family encoder for four emotions (resumes an interrupted run)",
        description=(
            "Fine-tune an encoder with the seed's recipe (SpeechBrain's IEMOCAP recipe) and write a run "
            "directory: the encoder in Hugging Face format, the head, the label map, the configuration "
            "and the metrics. Rerunning the same command resumes from the last completed epoch."
        ),
    )
    p.add_argument("corpus", metavar="DIR", help="corpus directory (IEMOCAP, EMODB or CSV manifest layout)")
    p.add_argument("--out", required=True, help="run directory to write (or resume)")
    p.add_argument(
        "--format", default="auto", choices=["auto", "iemocap", "emodb", "csv"], help="corpus layout"
    )
    p.add_argument(
        "--model", default=defaults.backbone, help="backbone: tiny, base-random, a directory or a hub id"
    )
    p.add_argument("--mode", default=defaults.mode, choices=MODES, help="partial (default), full or frozen")
    p.add_argument("--protocol", default=defaults.protocol, choices=PROTOCOLS)
    p.add_argument("--fold", default="0", help="fold index, fold name, or 'all' (mean and std over folds)")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr-backbone", type=float, default=defaults.lr_backbone)
    p.add_argument("--lr-head", type=float, default=defaults.lr_head)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--crop-seconds", type=float, default=None, help="random crop of long training utterances")
    p.add_argument("--mixed-precision", default="auto", choices=["auto", "bf16", "fp16", "no"])
    p.add_argument(
        "--compile",
        action="store_true",
        help="compile the transformer layers for training with torch.compile (GPU; composes with --cuda-graphs)",
    )
    p.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="replay each training step from a CUDA graph per batch shape (one GPU; use with --pad-multiple)",
    )
    p.add_argument(
        "--pad-multiple",
        type=float,
        default=0.0,
        help="pad training batches to a multiple of this many seconds (0: to the longest utterance)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out damaged or unreadable audio files, listed in the run's training_config.json "
        "(default: stop, naming them, before training)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emocirc finetune``."""
    from emocirc.corpora import load_corpus
    from emocirc.finetune import FinetuneConfig, finetune, read_metrics

    config = FinetuneConfig(
        backbone=args.model,
        mode=args.mode,
        protocol=args.protocol,
        fold=args.fold,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_backbone=args.lr_backbone,
        lr_head=args.lr_head,
        seed=args.seed,
        crop_seconds=args.crop_seconds,
        mixed_precision=args.mixed_precision,
        compile=args.compile,
        cuda_graphs=args.cuda_graphs,
        pad_multiple=args.pad_multiple,
        device=args.device,
    )
    df = load_corpus(args.corpus, format=args.format, four_class=True, skip_bad=args.skip_bad)
    for skipped in df.attrs.get("skipped", []):
        print(f"emocirc: skipped: {skipped}", file=sys.stderr)
    out = finetune(df, config, args.out, progress=not args.no_progress, log=print)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under `accelerate launch`, the main process reports
    metrics = read_metrics(out)
    if "mean" in metrics:
        mean, std = metrics["mean"], metrics["std"]
        print(
            f"{len(metrics['folds'])} folds of {config.protocol}: "
            + "  ".join(f"{k} {mean[k]:.3f} ± {std[k]:.3f}" for k in mean)
        )
    else:
        part = metrics["test"] or metrics["valid"]
        which = "test" if metrics["test"] else "valid"
        print(
            f"best epoch {metrics['best_epoch']}: {which} WA {part['weighted_accuracy']:.3f}  "
            f"UA {part['unweighted_recall']:.3f}  macro-F1 {part['macro_f1']:.3f}"
        )
    print(f"wrote {out}")
    return 0
