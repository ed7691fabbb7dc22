"""Time emocirc's feature extraction against a naive per-file loop, same audio, same process.

The naive loop is what a first script does: for each utterance, Hugging Face's
feature extractor, then the model in fp32 with all hidden states, then a mean
over frames.  emocirc sorts by length, batches by padded audio seconds, masks
exactly, runs under bf16 autocast where the hardware has it and stops at the
highest requested layer.  Both compute all hidden states of the same
utterances; speeds are audio seconds per wall-clock second (x real time).

    .venv/bin/python benchmarks/extract.py                  # CPU, about 40 s of audio
    python benchmarks/extract.py --device cuda              # GPU, 3000 s of audio
    python benchmarks/extract.py --device cuda --variants   # GPU, each optimisation on and off
    .venv/bin/python benchmarks/extract.py --hash-only      # cache-key hashing alone, old vs new
    python benchmarks/extract.py --no-bf16 --precision int8 --also fp32 --repeat 3   # a CPU without bf16

``--no-bf16`` sets ``EMOCIRC_CPU_BF16=0`` (:data:`emocirc.cpu_int8.FORCE_BF16_ENV`), so
emocirc treats this CPU as one without native bf16 ("auto" is then fp32); run it
under ``ONEDNN_MAX_CPU_ISA=AVX2`` too to make oneDNN use only AVX2 kernels.
``--also`` times further precisions in the same alternating ``--repeat`` runs.

``--variants`` times the GPU path with each of its optimisations switched off
and on (:class:`emocirc.fast_forward.Tuning`), every run after a warm-up run on the
same audio (so cuFFT plans and cuDNN's algorithm search are paid for).

Random weights are fine for timing: the arithmetic does not depend on them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emocirc._io import write_json  # noqa: E402
from emocirc.audio import load_audio, write_wav  # noqa: E402
from emocirc.backbones import load_backbone  # noqa: E402
from emocirc.compat import attn_implementation  # noqa: E402
from emocirc.cpu_int8 import FORCE_BF16_ENV, cpu_has_native_bf16  # noqa: E402
from emocirc.fast_forward import StrictFP32, tuning  # noqa: E402
from emocirc.features import (  # noqa: E402
    content_hash,
    extract_features,
    resolve_device,
    resolve_precision,
)

#: (name, precision, batch seconds, tuning): the ablation of ``--variants`` (batch None: the default size).
#: "previous" is the path as measured in the previous round (bf16 autocast,
#: unfolded-GEMM CNN on the GPU, group norm reduced over the 512-channel
#: activations, Hugging Face's encoder forward, one batch at a time).
PREVIOUS = {
    "cnn": "auto-unfold",
    "first_norm": "direct",
    "bf16_weights": False,
    "encoder": "hf",
    "pipeline": False,
    "pos_conv": "auto",
}
AFTER = {
    **PREVIOUS,
    "cnn": "auto",
    "first_norm": "analytic",
    "bf16_weights": True,
    "encoder": "own",
    "pipeline": True,
}
VARIANTS = [
    ("previous", "bf16", None, PREVIOUS),
    ("previous + analytic first norm", "bf16", None, {**PREVIOUS, "first_norm": "analytic"}),
    ("previous + bf16 weights", "bf16", None, {**PREVIOUS, "bf16_weights": True}),
    ("previous + strided CNN", "bf16", None, {**PREVIOUS, "cnn": "strided"}),
    ("previous + own encoder, pipelined", "bf16", None, {**PREVIOUS, "encoder": "own", "pipeline": True}),
    ("all", "bf16", None, AFTER),
    ("all, oneDNN/cuDNN conv", "bf16", None, {**AFTER, "cnn": "conv"}),
    ("all, strided CNN", "bf16", None, {**AFTER, "cnn": "strided"}),
    ("all, fused first layer", "bf16", None, {**AFTER, "first_layer": "fused"}),
    ("all, half batch", "bf16", 0.5, AFTER),
    ("all, double batch", "bf16", 2.0, AFTER),
    ("previous", "fp32", None, PREVIOUS),
    ("all", "fp32", None, AFTER),
    # CPU only (emocirc.cpu_int8): the fast path of CPUs without native bf16.
    ("all, int8 linears", "int8", None, AFTER),
]

SR = 16_000


def utterances(total_seconds: float, shortest: float, longest: float, seed: int = 0) -> list[np.ndarray]:
    """Seeded speech-like signals (tone plus noise) of random lengths summing to ``total_seconds``."""
    rng = np.random.default_rng(seed)
    waves, total = [], 0.0
    while total < total_seconds:
        seconds = float(rng.uniform(shortest, longest))
        t = np.arange(int(seconds * SR)) / SR
        pitch = rng.uniform(100, 300)
        wave = 0.2 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(len(t))
        waves.append(wave.astype(np.float32))
        total += seconds
    return waves


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def naive_loop(backbone, waves, device) -> tuple[float, list[np.ndarray]]:
    """Feature extractor plus model per file, fp32, all layers; returns (seconds, embeddings)."""
    from transformers import Wav2Vec2FeatureExtractor

    extractor = Wav2Vec2FeatureExtractor(do_normalize=backbone.do_normalize, return_attention_mask=False)
    out = []
    sync(device)
    start = time.perf_counter()
    # A true fp32 reference: PyTorch lets cuDNN use TF32 by default.
    with torch.no_grad(), StrictFP32():
        for wave in waves:
            inputs = extractor(wave, sampling_rate=SR, return_tensors="pt")
            hidden = backbone.model(inputs.input_values.to(device), output_hidden_states=True).hidden_states
            out.append(torch.stack([h[0].mean(0) for h in hidden]).cpu().numpy())
    sync(device)
    return time.perf_counter() - start, out


def fast(backbone, waves, device, precision, batch_seconds) -> tuple[float, np.ndarray]:
    sync(device)
    start = time.perf_counter()
    feats = extract_features(
        waves, backbone, device=device, precision=precision, batch_seconds=batch_seconds, cache=False
    )
    sync(device)
    return time.perf_counter() - start, feats.embeddings


def profile(backbone, waves, device, precision, batch_seconds) -> None:
    """Print the operators that take the most time in one extraction."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        fast(backbone, waves, device, precision, batch_seconds)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=60))


def hf_batched(backbone, waves, device, batch_seconds) -> tuple[float, np.ndarray]:
    """Plain Hugging Face batching for comparison: length-sorted, zero-padded, bf16 autocast, no mask.

    Not exact (the group norm and the attention see the padding, and the
    means include padded frames); it shows what the model itself runs at.
    """
    order = np.argsort([len(w) for w in waves], kind="stable")
    out = [None] * len(waves)
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        i = 0
        while i < len(order):
            j = i + 1
            while j < len(order) and len(waves[order[j]]) * (j - i + 1) <= batch_seconds * SR:
                j += 1
            chunk = [waves[k] for k in order[i:j]]
            x = np.zeros((len(chunk), len(chunk[-1])), np.float32)
            for r, w in enumerate(chunk):
                x[r, : len(w)] = (w - w.mean()) / np.sqrt(w.var() + 1e-7)
            hidden = backbone.model(torch.from_numpy(x).to(device), output_hidden_states=True).hidden_states
            pooled = torch.stack([h.float().mean(1) for h in hidden], 1).cpu().numpy()
            for r, k in enumerate(order[i:j]):
                out[k] = pooled[r]
            i = j
    sync(device)
    return time.perf_counter() - start, np.stack(out)


def variants(backbone, waves, device, ref, naive_x_rt, default_batch) -> list[dict]:
    """Time each entry of :data:`VARIANTS` (after a warm-up on the same audio) and print a table."""
    audio = sum(len(w) for w in waves) / SR
    rows = []
    print(
        f"\n{'variant':32s} {'prec':5s} {'batch s':>8s} {'x real time':>12s} {'vs naive':>9s} "
        f"{'rel. diff':>9s} {'peak GiB':>9s}"
    )
    for name, prec, batch_seconds, changes in [
        ("plain HF batches (not exact)", "bf16", None, None),
        *VARIANTS,
    ]:
        batch_seconds = default_batch * (batch_seconds or 1.0)
        if prec == "int8" and device.type != "cpu":
            continue
        changes = dict(changes or {})  # each variant from the default tuning
        if changes.get("cnn") == "auto-unfold":
            changes["cnn"] = "unfold" if device.type == "cuda" else "conv"
        run = (
            fast if name != "plain HF batches (not exact)" else (lambda b, w, d, p, s: hf_batched(b, w, d, s))
        )
        with tuning(**changes):
            try:
                run(backbone, waves, device, prec, batch_seconds)  # warm-up: plans, algorithm search
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                elapsed, emb = run(backbone, waves, device, prec, batch_seconds)
            except torch.cuda.OutOfMemoryError:
                print(f"{name:32s} {prec:5s} {batch_seconds:8.0f} out of GPU memory")
                torch.cuda.empty_cache()
                continue
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        row = {
            "variant": name,
            "precision": prec,
            "batch_s": batch_seconds,
            "x_rt": audio / elapsed,
            "ratio": audio / elapsed / naive_x_rt,
            "rel_diff": rel_error(emb[: len(ref)], ref),
            "peak_gib": peak,
        }
        rows.append(row)
        print(
            f"{name:32s} {prec:5s} {batch_seconds:8.0f} {row['x_rt']:12.1f} {row['ratio']:9.1f} "
            f"{row['rel_diff']:9.1e} {peak:9.1f}",
            flush=True,
        )
    return rows


def write_wavs(waves: list[np.ndarray], folder: Path) -> list[Path]:
    """The utterances as 16-bit WAV files, as corpora ship them."""
    paths = []
    for i, wave in enumerate(waves):
        paths.append(folder / f"u{i:04d}.wav")
        write_wav(paths[-1], wave, SR)
    return paths


def old_file_hash(path: Path) -> str:
    """The cache key of the previous rounds: blake2b of the file's bytes, read before any model work."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def hashing(paths: list[Path]) -> dict:
    """Throughput of the old key (blake2b of file bytes) and the new (xxh3-128 of decoded samples).

    Each is timed over the same files in the same process, after one warm-up
    pass (so both read from the page cache); decoding is timed on its own, as
    the loader decodes every file for the model anyway and the new key adds
    only its hash.
    """
    for path in paths:  # warm the page cache for both
        old_file_hash(path)
    audio = sum(sf.info(str(p)).frames for p in paths) / SR
    file_mb = sum(p.stat().st_size for p in paths) / 1e6
    start = time.perf_counter()
    for path in paths:
        old_file_hash(path)
    t_old = time.perf_counter() - start
    start = time.perf_counter()
    signals = [load_audio(str(p)) for p in paths]
    t_decode = time.perf_counter() - start
    sample_mb = sum(s.nbytes for s in signals) / 1e6
    start = time.perf_counter()
    for signal in signals:
        content_hash(signal)
    t_new = time.perf_counter() - start
    row = {
        "audio_s": audio,
        "old_mb_s": file_mb / t_old,
        "old_x_rt": audio / t_old,
        "new_mb_s": sample_mb / t_new,
        "new_x_rt": audio / t_new,
        "decode_x_rt": audio / t_decode,
        "new_vs_old": t_old / t_new,
    }
    print(
        f"cache keys over {audio:.0f} s of audio: old blake2b of file bytes {row['old_mb_s']:8.0f} MB/s "
        f"= {row['old_x_rt']:9.0f}x real time (serial, before any model work); new xxh3-128 of decoded "
        f"samples {row['new_mb_s']:8.0f} MB/s = {row['new_x_rt']:9.0f}x real time "
        f"({row['new_vs_old']:.1f}x the old, on the loader thread); decoding itself "
        f"{row['decode_x_rt']:.0f}x real time"
    )
    return row


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest per-utterance, per-layer relative error ||a - b|| / ||b||."""
    return float(np.max(np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="base-random", help="backbone (default: base-random = wav2vec2-base)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--seconds", type=float, default=None, help="audio for the fast runs (CPU 40, GPU 3000)"
    )
    parser.add_argument(
        "--naive-seconds", type=float, default=None, help="audio for the naive loop (CPU all, GPU 300)"
    )
    parser.add_argument("--shortest", type=float, default=2.0)
    parser.add_argument("--longest", type=float, default=8.0)
    parser.add_argument("--batch-seconds", type=float, nargs="*", default=None, help="batch sizes to try")
    parser.add_argument("--precision", default="auto", help="auto, bf16, fp32 or int8 (CPU)")
    parser.add_argument(
        "--also", nargs="*", default=[], help="further precisions to time in each --repeat round"
    )
    parser.add_argument(
        "--no-bf16",
        action="store_true",
        help="treat this CPU as one without native bf16 (sets EMOCIRC_CPU_BF16=0)",
    )
    parser.add_argument("--no-cache-test", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print the costliest operators of one run")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="alternate the naive loop and the default fast run N times and report the median ratio "
        "(for shared machines whose load drifts)",
    )
    parser.add_argument(
        "--variants", action="store_true", help="time each GPU optimisation on and off instead"
    )
    parser.add_argument(
        "--hash-only", action="store_true", help="time the cache keys' hashing alone (old vs new), no model"
    )
    args = parser.parse_args(argv)
    if args.hash_only:
        with tempfile.TemporaryDirectory() as tmp:
            waves = utterances(args.seconds or 600.0, args.shortest, args.longest)
            results = {"hashing": hashing(write_wavs(waves, Path(tmp)))}
        if args.json:
            write_json(args.json, results)
        return results

    if args.no_bf16:
        os.environ[FORCE_BF16_ENV] = "0"
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    torch.manual_seed(0)
    seconds = args.seconds or (3000.0 if gpu else 30.0)
    naive_seconds = args.naive_seconds or (300.0 if gpu else seconds)
    batch_list = args.batch_seconds or ([300.0, 600.0, 1200.0, 2000.0] if gpu else [16.0, 32.0])
    precision = resolve_precision(args.precision, device)
    default_batch = batch_list[len(batch_list) // 2]

    backbone = load_backbone(args.model, device)
    waves = utterances(seconds, args.shortest, args.longest)
    audio = sum(len(w) for w in waves) / SR
    naive_waves = waves[: max(1, int(len(waves) * min(1.0, naive_seconds / seconds)))]
    naive_audio = sum(len(w) for w in naive_waves) / SR
    device_name = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device_name}; torch {torch.__version__}; backbone {args.model}")
    if not gpu:
        isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "unset"
        print(
            f"native bf16: {cpu_has_native_bf16()} ({FORCE_BF16_ENV}={os.environ.get(FORCE_BF16_ENV, 'unset')}); "
            f"ONEDNN_MAX_CPU_ISA={isa}; quantised engine {torch.backends.quantized.engine}"
        )
    print(f"audio: {len(waves)} utterances, {audio:.1f} s ({args.shortest}-{args.longest} s each)")

    # Warm-up: first calls pay for kernel selection and allocator growth.
    naive_loop(backbone, naive_waves[:2], device)
    fast(backbone, waves[: max(2, len(waves) // 8)], device, precision, batch_list[0])

    t_naive, ref = naive_loop(backbone, naive_waves, device)
    results = {"device": device_name, "audio_s": audio, "naive_x_rt": naive_audio / t_naive, "runs": []}
    print(f"naive per-file loop, fp32, all layers: {naive_audio / t_naive:9.1f}x real time ({t_naive:.2f} s)")
    ref = np.stack(ref)
    print(f"attention: {attn_implementation(backbone.model.config)}")
    if args.variants:
        results["variants"] = variants(backbone, waves, device, ref, results["naive_x_rt"], default_batch)
        if args.profile:
            profile(backbone, waves, device, precision, default_batch)
        if args.json:
            write_json(args.json, results)
        return results
    also = [p for p in dict.fromkeys(resolve_precision(p, device) for p in args.also) if p != precision]
    if also:  # warm-up (the int8 copy is made on first use)
        for prec in also:
            fast(backbone, waves[:2], device, prec, batch_list[0])
    if args.repeat > 1:
        ratios = []
        others: dict[str, list[float]] = {p: [] for p in also}
        for _ in range(args.repeat):
            t_naive, _ = naive_loop(backbone, naive_waves, device)
            elapsed, _ = fast(backbone, waves, device, precision, default_batch)
            ratios.append((audio / elapsed) / (naive_audio / t_naive))
            line = (
                f"naive {naive_audio / t_naive:8.1f}x real time, emocirc {precision} {audio / elapsed:8.1f}x: "
                f"{ratios[-1]:.2f}x"
            )
            for prec in also:
                elapsed, _ = fast(backbone, waves, device, prec, default_batch)
                others[prec].append((audio / elapsed) / (naive_audio / t_naive))
                line += f"; {prec} {audio / elapsed:8.1f}x: {others[prec][-1]:.2f}x"
            print(line, flush=True)
        results["repeat_ratios"] = ratios
        results["median_ratio"] = float(np.median(ratios))
        results["repeat_ratios_also"] = others
        print(f"median over {args.repeat} alternating runs: {results['median_ratio']:.2f}x the naive loop")
        for prec, values in others.items():
            print(f"median over {args.repeat} alternating runs, {prec}: {float(np.median(values)):.2f}x")
    # The exact fp32 path at the default batch size, then the fast precision at each size.
    plan = (
        [("fp32", default_batch)] + [(p, default_batch) for p in also] + [(precision, b) for b in batch_list]
    )
    for prec, batch_seconds in dict.fromkeys(plan):
        elapsed, emb = fast(backbone, waves, device, prec, batch_seconds)
        speed = audio / elapsed
        err = rel_error(emb[: len(ref)], ref)
        ratio = speed / results["naive_x_rt"]
        print(
            f"emocirc {prec}, batches of {batch_seconds:6.0f} s: {speed:9.1f}x real time "
            f"({elapsed:.2f} s), {ratio:5.1f}x the naive loop, max rel. diff {err:.1e}"
        )
        results["runs"].append(
            {"precision": prec, "batch_s": batch_seconds, "x_rt": speed, "ratio": ratio, "rel_diff": err}
        )

    if gpu:
        results["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        print(f"peak GPU memory: {results['peak_gpu_memory_gib']:.1f} GiB")
    if args.profile:
        profile(backbone, waves, device, precision, default_batch)
    if not args.no_cache_test:
        # The default path, cache on, from files: keys come from the loader as it decodes.
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_wavs(waves, Path(tmp))
            results["hashing"] = hashing(paths)
            timings = []
            for _ in range(2):
                sync(device)
                start = time.perf_counter()
                extract_features(
                    paths, backbone, device=device, precision=precision, cache_dir=Path(tmp) / "cache"
                )
                sync(device)
                timings.append(time.perf_counter() - start)
        print(
            f"cache on, from WAV files: first run {timings[0]:.2f} s = {audio / timings[0]:.1f}x real time "
            f"({audio / timings[0] / results['naive_x_rt']:.1f}x the naive loop), second run (all cached) "
            f"{timings[1]:.3f} s ({timings[0] / timings[1]:.0f}x faster)"
        )
        results["cache_first_s"], results["cache_second_s"] = timings
        results["cache_on_x_rt"] = audio / timings[0]
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
