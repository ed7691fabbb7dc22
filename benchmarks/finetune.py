"""Throughput of the fine-tuning step: utterances per second and time per IEMOCAP-sized epoch.

Times the training step of :mod:`emocirc.finetune` (encoder + mean pooling +
linear head, NLL, two Adam optimisers, gradient clipping; partial fine-tuning
by default) on random 16 kHz signals, and extrapolates to an IEMOCAP-sized
epoch (5,531 utterances of about 4.5 s).

    python benchmarks/finetune.py --model tiny --steps 30              # CPU figure
    python benchmarks/finetune.py --model base-random --batch-size 4   # GPU: bf16 autocast
    python benchmarks/finetune.py --model base-random --batch-size 4 --graphs   # CUDA graphs
    python benchmarks/finetune.py --model base-random --batch-size 4 --graphs --bucket   # as in training
    python benchmarks/finetune.py --model base-random --batch-size 32 --graphs --compile   # + compiled layers

The step is :class:`emocirc.finetune.TrainStep`, the one ``emocirc finetune``
runs.  ``--graphs`` replays it from CUDA graphs; ``--compile`` runs the
transformer layers through ``torch.compile`` (regional compilation,
:meth:`emocirc.finetune.EmotionClassifier.compiled_layers`; the compile time
is in the warm-up, reported apart); ``--no-fast-cnn`` runs the
frozen CNN through the model's own modules instead of
:func:`emocirc.fast_forward.feature_encoder`.  ``--bucket`` draws lengths from
3-6 s (mean 4.5 s) and rounds each batch's padded length up to a 0.25 s
grid, as length bucketing with ``pad_multiple`` does, so ``--compile`` and
``--graphs`` see few distinct shapes.  Results go to stdout (and ``--json``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time

import numpy as np
import torch

from emocirc._io import write_json
from emocirc.backbones import load_backbone
from emocirc.fast_forward import tuning
from emocirc.finetune import EmotionClassifier, TrainStep, training_uses_fft

IEMOCAP_UTTERANCES = 5531


def main(argv: list[str] | None = None) -> dict:
    with contextlib.ExitStack() as stack:
        return _main(stack, argv)


def _main(stack: contextlib.ExitStack, argv: list[str] | None) -> dict:
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
    p.add_argument("--compile", action="store_true", help="torch.compile the transformer layers")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode, e.g. reduce-overhead")
    p.add_argument("--graphs", action="store_true", help="replay each step from a CUDA graph")
    p.add_argument(
        "--unfused",
        action="store_true",
        help="multi-tensor Adam instead of the fused one emocirc uses on CUDA",
    )
    p.add_argument("--module-pos-conv", action="store_true", help="the model's own positional conv (no FFT)")
    p.add_argument("--no-fast-cnn", action="store_true", help="frozen CNN through the model's own modules")
    p.add_argument(
        "--profile",
        action="store_true",
        help="print the costliest kernels of 5 steps, and their share by kind",
    )
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
    model.fast_cnn = not args.no_fast_cnn
    if args.module_pos_conv:
        stack.enter_context(tuning(pos_conv="module"))  # for the rest of the run
    enc_params = [q for q in model.encoder.parameters() if q.requires_grad]
    graphs = args.graphs and device.startswith("cuda")
    fused = not args.unfused and device.startswith("cuda")
    adam = {"capturable": graphs, **({"fused": True} if fused else {})}
    optimizers = [torch.optim.Adam(model.head.parameters(), lr=1e-4, **adam)]
    if enc_params:
        optimizers.append(torch.optim.Adam(enc_params, lr=1e-5, **adam))
    model.train()
    model.compile_layers = args.compile or args.compile_mode is not None
    if args.compile_mode:
        model.compile_options = {**model.compile_options, "mode": args.compile_mode}
    train_step = TrainStep(
        model, optimizers, 5.0, torch.bfloat16 if precision == "bf16" else None, graphs=graphs
    )
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
        # Host tensors, as the training loop hands them over (pinned: asynchronous copies).
        wav = torch.from_numpy(rng.standard_normal((args.batch_size, width), dtype=np.float32))
        lens = torch.as_tensor(lengths)
        target = torch.as_tensor(rng.integers(0, 4, args.batch_size))
        if device.startswith("cuda"):
            wav, lens, target = wav.pin_memory(), lens.pin_memory(), target.pin_memory()
        return wav, lens, target

    # A pool of host batches, cycled: drawing 32 x 4.5 s of random samples per
    # step would cost the host more than the training loop's own collation.
    pool = [batch() for _ in range(8)]
    counter = iter(range(1 << 62))

    def step():
        wav, lens, target = pool[next(counter) % len(pool)]
        train_step(wav, lens, target)
        return int(lens.shape[0]), float(lens.sum()) / 16000

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    tic = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    warmup_s = time.perf_counter() - tic
    tic = time.perf_counter()
    utts, audio_s = 0, 0.0
    for _ in range(args.steps):
        n, s = step()
        utts += n
        audio_s += s
    sync()
    elapsed = time.perf_counter() - tic
    rate = utts / elapsed
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
        with profile(activities=activities) as prof:
            for _ in range(5):
                step()
            sync()
        key = "self_device_time_total" if device.startswith("cuda") else "self_cpu_time_total"
        events = prof.key_averages()
        print(events.table(sort_by=key, row_limit=30, max_name_column_width=90))
        if device.startswith("cuda"):
            _kernel_shares(events)
    result = {
        "model": args.model,
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"cpu ({torch.get_num_threads()} threads)",
        "precision": precision,
        "mode": args.mode,
        "batch_size": args.batch_size,
        "bucket": args.bucket,
        "compile": model.compile_layers,
        "compile_options": model.compile_options if model.compile_layers else None,
        "graphs": graphs,
        "fft_pos_conv": not args.no_fast_cnn and training_uses_fft(device),
        "fused_adam": fused,
        "graphs_captured": train_step.num_graphs,
        "fast_cnn": not args.no_fast_cnn,
        "loss": train_step.mean_loss(),
        "warmup_s": warmup_s,
        "mean_seconds": audio_s / utts,
        "steps": args.steps,
        "utterances_per_s": rate,
        "epoch_s_iemocap": IEMOCAP_UTTERANCES * (args.seconds / (audio_s / utts)) / rate,
    }
    print(
        f"{result['model']} {result['mode']} on {result['device']}, {precision}, batch {args.batch_size}"
        f"{', bucketed' if args.bucket else ''}{', compiled' if model.compile_layers else ''}"
        f"{f', CUDA graphs ({train_step.num_graphs} shapes)' if graphs else ''}"
        f"{', model CNN' if args.no_fast_cnn else ''}{', fused Adam' if fused else ''}"
        f"{', module pos. conv' if args.module_pos_conv else ''}: "
        f"{rate:.1f} utterances/s ({result['mean_seconds']:.2f} s each), "
        f"IEMOCAP-sized epoch ({IEMOCAP_UTTERANCES} x {args.seconds} s) {result['epoch_s_iemocap']:.1f} s"
        f" (warm-up {warmup_s:.0f} s)"
    )
    if args.json:
        write_json(args.json, result)
    return result


_KINDS = (
    ("matrix products", ("gemm", "cutlass", "sm90_", "sm80_", "cublas", "xmma")),
    ("attention", ("flash", "fmha", "attention", "efficient")),
    ("Adam", ("adam",)),
    ("FFT", ("fft", "vector_fft", "regular_fft")),
    ("compiled (Triton)", ("triton_",)),
    ("reductions", ("reduce", "norm")),
    ("element-wise and copies", ("elementwise", "copy", "fill", "index", "cat", "bernoulli", "dropout")),
)


def _kernel_shares(events) -> None:
    """GPU time by kind of kernel (matched on the kernel's name), to see where a step goes."""
    kernels = [e for e in events if e.self_device_time_total > 0 and e.device_type.name == "CUDA"]
    total = sum(e.self_device_time_total for e in kernels) or 1.0
    shares: dict[str, float] = {}
    for e in kernels:
        name = e.key.lower()
        kind = next((k for k, words in _KINDS if any(w in name for w in words)), "other")
        shares[kind] = shares.get(kind, 0.0) + e.self_device_time_total
    print(f"GPU time of 5 steps: {total / 1e3:.1f} ms")
    for kind, us in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<26} {us / 1e3:8.1f} ms  {100 * us / total:5.1f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
