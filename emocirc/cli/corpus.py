"""``emocirc corpus DIR``: check a corpus and count what it holds.

Detects the layout, prints utterances per label and per speaker, the total
duration and the problems found, every damaged audio file among them (``--json``: one JSON object with the keys
``format``, ``utterances``, ``labels``, ``speakers``, ``duration_s``,
``problems``).  Problems do not change the exit status; bad input (no such
folder, unknown layout, malformed name) exits 2 with a one-line message.
"""

from __future__ import annotations

import argparse
import json

from emocirc.corpora import FORMATS, describe, load_corpus, summary


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``corpus`` sub-command."""
    parser = subparsers.add_parser(
        "corpus",
        help="check a corpus (EMODB, IEMOCAP or CSV manifest) and count its utterances",
        description=(
            "Detect a corpus's layout and print utterances per label and per speaker, "
            "the total duration and the problems found."
        ),
    )
    parser.add_argument(
        "root", metavar="DIR", help="corpus folder as downloaded, a manifest CSV, or its folder"
    )
    parser.add_argument(
        "--format", choices=("auto", *FORMATS), default="auto", help="layout (default: detect)"
    )
    parser.add_argument(
        "--four-class",
        action="store_true",
        help="keep anger, happiness (with excitement merged in), sadness and neutral",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the corpus and print its summary; return the exit status."""
    # A check lists every damaged file among its problems instead of stopping at them.
    df = load_corpus(args.root, format=args.format, four_class=args.four_class, skip_bad=True)
    if args.json:
        print(json.dumps(summary(df), ensure_ascii=False))
    else:
        print(describe(df))
    return 0
