"""Throughput of the fine-tuning step: utterances per second and time per IEMOCAP-sized epoch.

Times the training step of :mod:`emocirc.finetune` (encoder + mean pooling +
linear head, NLL, two Adam optimisers, gradient clipping; partial fine-tuning
by default) on random 16 kHz signals, and extrapolates to an IEMOCAP-sized
epoch (5,531 utterances of about 4.5 s).

    python benchmarks/finetune.py --model tiny --steps 30              # CPU figure
    python benchmarks/finetune.py --model base-random --batch-size 4   # GPU: bf16 autocast
    python benchmarks/finetune.py --model base-random --batch-size 32 --compile --bucket

``--bucket`` draws lengths from 3-6 s (mean 4.5 s) and rounds each batch's
padded length up to a 0.25 s grid, as length bucketing does, so
``--compile`` sees few distinct shapes.  Results go to stdout (and ``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch

from emocirc.backbones import load_backbone
from emocirc.finetune import EmotionClassifier

IEMOCAP_UTTERANCES = 5531


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="base-random")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=200, help="timed steps")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--seconds", type=float, default=4.5, help="utterance length (mean, with --bucket)")
    p.add_argument("--mode", default="partial", choices=["partial", "full", "frozen"])
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--bucket", action="store_true", help="variable lengths, padded to a 0.25 s grid")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    precision = (
        args.precision if args.precision != "auto" else ("bf16" if device.startswith("cuda") else "fp32")
    )
    torch.manual_seed(0)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    backbone = load_backbone(args.model, device="cpu")
    backbone.model.config.apply_spec_augment = False
    backbone.model.config.layerdrop = 0.0
    model = EmotionClassifier(backbone.model, ["anger", "happiness", "sadness", "neutral"], True).to(device)
    if args.mode == "partial":
        model.encoder.freeze_feature_encoder()
    elif args.mode == "frozen":
        model.encoder.requires_grad_(False)
    enc_params = [q for q in model.encoder.parameters() if q.requires_grad]
    optimizers = [torch.optim.Adam(model.head.parameters(), lr=1e-4)]
    if enc_params:
        optimizers.append(torch.optim.Adam(enc_params, lr=1e-5))
    model.train()
    step_model = torch.compile(model, dynamic=False) if args.compile else model
    rng = np.random.default_rng(0)
    grid = 4000  # 0.25 s

    def batch():
        if args.bucket:
            lengths = (rng.uniform(3.0, 6.0, args.batch_size) * 16000).astype(int)
            # A bucket holds utterances of similar length: shrink the spread to +-0.25 s.
            lengths = np.full(args.batch_size, int(lengths.mean())) - rng.integers(0, grid, args.batch_size)
            width = int(math.ceil(lengths.max() / grid) * grid)
        else:
            lengths = np.full(args.batch_size, int(args.seconds * 16000))
            width = int(lengths.max())
        wav = torch.randn(args.batch_size, width, device=device)
        return (
            wav,
            torch.as_tensor(lengths, device=device),
            torch.as_tensor(rng.integers(0, 4, args.batch_size), device=device),
        )

    def step():
        wav, lens, target = batch()
        with torch.autocast(
            device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16"
        ):
            logp = step_model(wav, lens)
        loss = torch.nn.functional.nll_loss(logp.float(), target)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        for opt in optimizers:
            opt.step()
        return int(lens.shape[0]), float(lens.sum()) / 16000

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    tic = time.perf_counter()
    utts, audio_s = 0, 0.0
    for _ in range(args.steps):
        n, s = step()
        utts += n
        audio_s += s
    sync()
    elapsed = time.perf_counter() - tic
    rate = utts / elapsed
    result = {
        "model": args.model,
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"cpu ({torch.get_num_threads()} threads)",
        "precision": precision,
        "mode": args.mode,
        "batch_size": args.batch_size,
        "bucket": args.bucket,
        "compile": args.compile,
        "mean_seconds": audio_s / utts,
        "steps": args.steps,
        "utterances_per_s": rate,
        "epoch_s_iemocap": IEMOCAP_UTTERANCES * (args.seconds / (audio_s / utts)) / rate,
    }
    print(
        f"{result['model']} {result['mode']} on {result['device']}, {precision}, batch {args.batch_size}"
        f"{', bucketed' if args.bucket else ''}{', compiled' if args.compile else ''}: "
        f"{rate:.1f} utterances/s ({result['mean_seconds']:.2f} s each), "
        f"IEMOCAP-sized epoch ({IEMOCAP_UTTERANCES} x {args.seconds} s) {result['epoch_s_iemocap']:.1f} s"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
