"""``emocirc pretrain CORPUS --out DIR``: self-supervised pre-training of a small wav2vec2, resumable."""

from __future__ import annotations

import argparse

from emocirc.cli._dataclass_options import add_field_options, values_given


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pretrain`` sub-command (one option per :class:`~emocirc.pretrain_config.PretrainConfig` field)."""
    from emocirc.pretrain_config import OBJECTIVES, PretrainConfig

    p = subparsers.add_parser(
        "pretrain",
        help="pre-train a wav2vec2-architecture encoder on a folder of unlabelled speech (resumes a killed run)",
        description=(
            "Self-supervised pre-training (wav2vec 2.0's contrastive task, or HuBERT's masked prediction of "
            "MFCC k-means units) on every WAV file under CORPUS. Writes a Hugging Face checkpoint directory "
            "(model.safetensors, config.json, preprocessor_config.json) with log.jsonl and metrics.json. "
            "Rerunning the same command resumes from the last checkpoint."
        ),
    )
    p.add_argument("corpus", metavar="CORPUS", help="folder of 16 kHz mono WAV files (searched recursively)")
    p.add_argument("--out", required=True, help="run directory to write (or resume)")
    add_field_options(
        p, PretrainConfig, title="pre-training settings (PretrainConfig fields; default in brackets)",
        choices={"objective": OBJECTIVES},
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``emocirc pretrain``."""
    import json

    import torch

    from emocirc.pretrain import PretrainConfig, pretrain

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    config = PretrainConfig(**values_given(args, PretrainConfig))
    out = pretrain(args.corpus, config, args.out, progress=not args.no_progress, log=print)
    metrics = json.loads((out / "metrics.json").read_text())
    first, last = metrics["random_init"], metrics["final"]
    print(
        f"held-out masked-prediction accuracy {last['held_out_accuracy']:.3f} "
        f"(random init {first['held_out_accuracy']:.3f}); loss {last['held_out_loss']:.4f} "
        f"(random init {first['held_out_loss']:.4f})"
    )
    print(f"wrote {out}")
    return 0
