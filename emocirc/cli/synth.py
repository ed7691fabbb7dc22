"""``emocirc synth``: write an embedded synthetic corpus (EMODB or IEMOCAP layout, or read speech).

``emocirc synth emodb OUT [--seed N] [--scale F]`` writes a new corpus at
``OUT``; without ``OUT`` the corpus is made (once) in the cache and its path
printed, which is what the book uses.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` sub-command."""
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic corpus (EMODB or IEMOCAP layout, or unlabelled read speech for pre-training)",
        description=(
            "Speak EMODB's or IEMOCAP's sentences with eSpeak NG and rule-based emotional prosody, "
            "and write them in the corpus's real layout; or, with 'readspeech', read English from many voices "
            "(with 20 ms phoneme alignments) for self-supervised pre-training. Synthetic speech, not human speech."
        ),
    )
    parser.add_argument("kind", choices=("emodb", "iemocap", "readspeech"), help="which corpus")
    parser.add_argument(
        "out",
        nargs="?",
        type=Path,
        help="new corpus directory (default: the cache, $EMOCIRC_CACHE/corpora/<kind>-<hash>)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same bytes")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="size relative to the default (EMODB 1,400 files, IEMOCAP 900 utterances, read speech about 1 h); default 1",
    )
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: up to 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emocirc synth``."""
    from emocirc import synth

    start = time.perf_counter()
    if args.out is None:
        root = synth.ensure_corpus(args.kind, seed=args.seed, scale=args.scale, jobs=args.jobs)
    else:
        make = {
            "emodb": synth.synthesize_emodb,
            "iemocap": synth.synthesize_iemocap,
            "readspeech": synth.synthesize_readspeech,
        }[args.kind]
        root = make(args.out, seed=args.seed, scale=args.scale, jobs=args.jobs, overwrite=args.overwrite)
    n = sum(1 for _ in root.rglob("*.wav"))
    print(f"{root}\t{n} utterances\t{time.perf_counter() - start:.1f} s")
    return 0
