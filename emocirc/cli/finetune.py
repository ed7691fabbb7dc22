"""``emocirc finetune DIR --out OUT``: the seed's partial fine-tuning, resumable.

Its options are generated from :class:`~emocirc.finetune_config.FinetuneConfig`'s
fields (``--lr-backbone`` for ``lr_backbone``, help from the class docstring),
so every field is reachable; ``--config run.yml`` reads field values from YAML
first and the options given on the command line override them.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from emocirc.cli import _dataclass_options

#: Option names kept from before the options were generated (field -> option).
RENAMED = {"backbone": "--model"}
#: Other spellings still accepted (field -> extra option strings).
ALIASES = {"backbone": ("--backbone",)}
#: Choices of fields with a fixed set of values (filled in by :func:`config_options`).
_CHOICES_OF = {"mode": "MODES", "protocol": "PROTOCOLS"}


def _labels(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _optional_float(text: str) -> float | None:
    return None if text.strip().lower() in ("none", "null", "") else float(text)


def _extra(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key.strip(), yaml.safe_load(value)


def option_name(field_name: str) -> str:
    """The command-line option of a FinetuneConfig field.

    Examples
    --------
    >>> option_name("lr_backbone"), option_name("backbone")
    ('--lr-backbone', '--model')
    """
    return _dataclass_options.option_name(field_name, RENAMED)


def config_options(parser: argparse.ArgumentParser) -> None:
    """Add one option per :class:`FinetuneConfig` field (default ``None``: not given)."""
    from emocirc import finetune_config
    from emocirc.finetune_config import FinetuneConfig

    _dataclass_options.add_field_options(
        parser,
        FinetuneConfig,
        title="fine-tuning settings (FinetuneConfig fields; default in brackets)",
        renamed=RENAMED,
        aliases=ALIASES,
        choices={
            **{name: getattr(finetune_config, table) for name, table in _CHOICES_OF.items()},
            "mixed_precision": ("auto", "bf16", "fp16", "no"),
        },
        special={
            "labels": {"type": _labels, "metavar": "A,B,...", "note": f"[{','.join(FinetuneConfig().labels)}]"},
            "extra": {"type": _extra, "action": "append", "metavar": "KEY=VALUE",
                      "note": "(repeatable; VALUE is read as YAML)"},
            "crop_seconds": {"type": _optional_float, "metavar": "SECONDS", "note": "[none]"},
            "fold": {"type": str},
        },
    )  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` sub-command."""
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a wav2vec2-family encoder for four emotions (resumes an interrupted run)",
        description=(
            "Fine-tune an encoder with the seed's recipe (SpeechBrain's IEMOCAP recipe) and write a run "
            "directory: the encoder in Hugging Face format, the head, the label map, the configuration "
            "and the metrics. Rerunning the same command resumes from the last completed epoch. "
            "Every FinetuneConfig field has an option; --config reads them from YAML and options given "
            "here override it."
        ),
    )
    p.add_argument("corpus", metavar="DIR", help="corpus directory (IEMOCAP, EMODB or CSV manifest layout)")
    p.add_argument("--out", required=True, help="run directory to write (or resume)")
    p.add_argument(
        "--format", default="auto", choices=["auto", "iemocap", "emodb", "csv"], help="corpus layout"
    )
    p.add_argument(
        "--config",
        metavar="RUN.yml",
        default=None,
        help="YAML mapping of FinetuneConfig field values (FinetuneConfig.to_yaml writes one)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out damaged or unreadable audio files, listed in the run's training_config.json "
        "(default: stop, naming them, before training)",
    )
    config_options(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    """The :class:`FinetuneConfig` of parsed ``emocirc finetune`` arguments: YAML file, then options.

    Examples
    --------
    >>> from emocirc.cli import build_parser
    >>> args = build_parser().parse_args(["finetune", "DIR", "--out", "RUN", "--model", "tiny", "--no-bucket"])
    >>> cfg = config_from_args(args)
    >>> cfg.backbone, cfg.bucket, cfg.epochs
    ('tiny', False, 30)
    """
    from emocirc.finetune_config import FinetuneConfig, read_settings

    values = read_settings(args.config) if getattr(args, "config", None) else {}
    for name, given in _dataclass_options.values_given(args, FinetuneConfig).items():
        if name == "extra":  # KEY=VALUE pairs add to (or replace keys of) the file's notes
            values["extra"] = {**values.get("extra", {}), **dict(given)}
        else:
            values[name] = given
    return FinetuneConfig(**values)


def run(args: argparse.Namespace) -> int:
    """Handle ``emocirc finetune``."""
    from emocirc.corpora import load_corpus
    from emocirc.finetune import finetune
    from emocirc.runs import read_metrics

    config = config_from_args(args)
    df = load_corpus(args.corpus, format=args.format, four_class=True, skip_bad=args.skip_bad)
    for skipped in df.attrs.get("skipped", []):
        print(f"emocirc: skipped: {skipped}", file=sys.stderr)
    out = finetune(df, config, args.out, progress=not args.no_progress, log=print)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under `accelerate launch`, the main process reports
    metrics = read_metrics(out)
    folds = metrics["folds"]
    for name, fold in folds.items():
        part = fold["test"] or fold["valid"]
        which = "test" if fold["test"] else "valid"
        print(
            (f"{name}: " if len(folds) > 1 else "")
            + f"best epoch {fold['best_epoch']}: {which} WA {part['weighted_accuracy']:.3f}  "
            f"UA {part['unweighted_recall']:.3f}  macro-F1 {part['macro_f1']:.3f}"
        )
    if len(folds) > 1:
        mean, std = metrics["mean"], metrics["std"]
        print(
            f"{len(folds)} folds of {metrics['protocol']}: "
            + "  ".join(f"{k} {mean[k]:.3f} ± {std[k]:.3f}" for k in mean)
        )
    print(f"wrote {out}")
    return 0
