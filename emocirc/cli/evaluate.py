"""``emocirc evaluate CHECKPOINT DIR``: a fine-tuned run scored on another corpus."""

from __future__ import annotations

import argparse
import math
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    p = subparsers.add_parser(
        "evaluate",
        help="score a fine-tuned run on a corpus through the four-class label mapping",
        description=(
            "Classify every utterance of a corpus whose label maps onto the run's classes (EMODB: "
            "anger, happiness, sadness, neutral) and report accuracy (WA), unweighted average recall "
            "(UA), the confusion matrix and the share of happiness predicted as anger."
        ),
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="run directory written by emocirc finetune")
    p.add_argument("corpus", metavar="DIR", help="corpus directory")
    p.add_argument(
        "--format", default="auto", choices=["auto", "iemocap", "emodb", "csv"], help="corpus layout"
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out damaged or unreadable audio files, listed on stderr and in --out's 'skipped' "
        "(default: stop, naming them, before scoring)",
    )
    p.add_argument("--out", default=None, help="write the metrics as JSON here")
    p.add_argument("--predictions", default=None, help="write one row per utterance as CSV here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emocirc evaluate``."""
    from emocirc._io import atomic_path, write_json
    from emocirc.corpora import load_corpus
    from emocirc.evaluation import evaluate
    from emocirc.runs import check_run

    check_run(args.checkpoint)  # before the corpus is read
    df = load_corpus(args.corpus, format=args.format, skip_bad=args.skip_bad)
    for skipped in df.attrs.get("skipped", []):
        print(f"emocirc: skipped: {skipped}", file=sys.stderr)
    result = evaluate(args.checkpoint, df, device=args.device)
    predictions = result.pop("predictions")
    labels = result["labels"]
    print(f"{result['n']} utterances scored; left out (no counterpart): {result['dropped'] or 'none'}")
    print(
        f"accuracy (WA) {result['weighted_accuracy']:.3f}  UA {result['unweighted_recall']:.3f}  macro-F1 {result['macro_f1']:.3f}"
    )
    share = result["happiness_as_anger"]
    print("happiness predicted as anger: " + ("n/a" if math.isnan(share) else f"{share:.1%}"))
    width = max(len(lab) for lab in labels) + 2
    print("true \\ predicted".ljust(width) + "".join(lab[:9].rjust(10) for lab in labels))
    for lab, row in zip(labels, result["confusion"], strict=True):
        print(lab.ljust(width) + "".join(str(v).rjust(10) for v in row))
    if args.out:
        write_json(args.out, {**result, "happiness_as_anger": None if math.isnan(share) else share})
    if args.predictions:
        with atomic_path(args.predictions, suffix=".csv") as tmp:
            predictions.to_csv(tmp, index=False)
    return 0
