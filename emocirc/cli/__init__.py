"""The ``emocirc`` command line.

Each long-running step has a sub-command in a module of its own under
:mod:`emocirc.cli`; every such module defines ``register(subparsers)``, which
adds its parser and sets ``func`` to a handler taking the parsed arguments
and returning an exit code.  An :class:`~emocirc.errors.EmocircError` is
printed on one line (``emocirc: error: ...``) and exits with status 2, with no
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from emocirc import __version__
from emocirc.errors import EmocircError

#: Sub-command modules, in the order ``emocirc --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "corpus",
    "synth",
    "extract",
    "pretrain",
    "finetune",
    "evaluate",
    "analyze",
    "diary",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command that is installed."""
    parser = argparse.ArgumentParser(
        prog="emocirc",
        description="Place the emotion in a voice on Russell's circumplex of affect.",
    )
    parser.add_argument("--version", action="version", version=f"emocirc {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"emocirc.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"emocirc.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EmocircError as err:
        message = " ".join(str(err).split())
        print(f"emocirc: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emocirc: interrupted", file=sys.stderr)
        return 130
