"""Peak memory and speed of :func:`emocirc.features.extract_windows` on a long recording.

Writes a synthetic recording of ``--minutes`` minutes (noise plus slowly
gliding tones, 16 kHz 16-bit PCM) to a temporary wav, then embeds it in
sliding windows in a fresh Python process, with the cache off, and reports
the wall time, the speed (audio seconds per wall-clock second, x real time)
and the child's peak resident memory.  A fresh process is used so the peak
is the extraction's own (imports, model, signal, windows), not this
script's: it is the ``ru_maxrss`` that ``os.wait4`` returns for that child,
the same number ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` gives
in this script, whose only child it is.

    .venv/bin/python benchmarks/long_recording.py                     # one hour, tiny
    .venv/bin/python benchmarks/long_recording.py --backbone base-random --minutes 10
    .venv/bin/python benchmarks/long_recording.py --minutes 2 --json out.json

The target (issue 5 item 7) is a peak under 2 GB for an hour on a CPU.  The
signal itself must be in memory (an hour of float32 at 16 kHz is 230 MB);
everything else must not grow with the recording's length.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 16_000
LIMIT_BYTES = 2 * 1024**3

# The child: load the backbone, then time extract_windows alone.
_CHILD = r"""
import json, sys, time
import torch
from emocirc.backbones import load_backbone
from emocirc.features import extract_windows
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"]) if args["threads"] else None
backbone = load_backbone(args["backbone"], "cpu")
tic = time.perf_counter()
f = extract_windows(args["wav"], backbone, window=args["window"], hop=args["hop"], layers=args["layers"],
                    device=args["device"], precision=args["precision"], batch_seconds=args["batch_seconds"],
                    cache=False)
seconds = time.perf_counter() - tic
print(json.dumps({"extract_seconds": seconds, "windows": len(f), "shape": list(f.embeddings.shape),
                  "finite": bool(torch.isfinite(torch.from_numpy(f.embeddings)).all()),
                  "precision": f.info["precision"]}))
"""


def write_recording(path: Path, minutes: float, seed: int = 0, block_seconds: float = 60.0) -> float:
    """Write ``minutes`` of noise plus tones as 16-bit PCM, a block at a time; return its seconds.

    Blocks keep this script's memory small whatever the length; the content
    does not matter to the extraction's cost, only its length does.
    """
    import soundfile as sf

    rng = np.random.default_rng(seed)
    total = int(round(minutes * 60 * SR))
    block = int(block_seconds * SR)
    with sf.SoundFile(path, "w", samplerate=SR, channels=1, subtype="PCM_16") as fh:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / SR
            # Tones gliding slowly so windows differ; noise at -20 dB under them.
            freq = 150.0 + 100.0 * np.sin(2 * np.pi * t / 37.0)
            tone = 0.3 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(2 * np.pi * 3.1 * freq * t)
            fh.write((tone + 0.03 * rng.standard_normal(n)).astype(np.float32))
    return total / SR


def measure(
    minutes: float,
    backbone: str = "tiny",
    window: float = 4.0,
    hop: float = 2.0,
    layers: str = "all",
    precision: str = "auto",
    threads: int | None = None,
    batch_seconds: float | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> dict:
    """Write a recording, embed it in a child process, and return the numbers as a dict."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        wav = Path(tmp) / "long.wav"
        audio_seconds = write_recording(wav, minutes)
        args = {
            "wav": str(wav),
            "backbone": backbone,
            "window": window,
            "hop": hop,
            "layers": layers,
            "device": "cpu",
            "precision": precision,
            "threads": threads,
            "batch_seconds": batch_seconds,
        }
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        tic = time.perf_counter()
        with tempfile.TemporaryFile(mode="w+") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, json.dumps(args)],
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                text=True,
            )
            stdout = proc.stdout.read()
            proc.stdout.close()
            # wait4 reaps this child and gives its own rusage: the same peak that
            # getrusage(RUSAGE_CHILDREN) reports in a process that had only this child,
            # but exact also when the caller (a test) has run other children before.
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - tic
            err.seek(0)
            stderr = err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"extraction child failed ({proc.returncode}):\n{stderr[-3000:]}")
    child = json.loads(stdout.strip().splitlines()[-1])
    # Linux reports ru_maxrss in KiB.
    peak = usage.ru_maxrss * 1024
    return {
        "minutes": minutes,
        "audio_seconds": audio_seconds,
        "backbone": backbone,
        "window": window,
        "hop": hop,
        "layers": layers,
        "batch_seconds": batch_seconds,
        "precision": child["precision"],
        "windows": child["windows"],
        "embeddings_shape": child["shape"],
        "finite": child["finite"],
        "extract_seconds": child["extract_seconds"],
        "child_wall_seconds": wall,
        "x_real_time": audio_seconds / child["extract_seconds"],
        "peak_rss_bytes": peak,
        "signal_bytes": int(audio_seconds * SR) * 4,
        "under_2gb": peak < LIMIT_BYTES,
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="recording length (default 60)")
    parser.add_argument("--backbone", default="tiny", help="tiny (default), base-random, or a model dir")
    parser.add_argument("--window", type=float, default=4.0, help="window seconds (default 4)")
    parser.add_argument("--hop", type=float, default=2.0, help="hop seconds (default 2)")
    parser.add_argument("--layers", default="all", help="hidden states to pool (default all)")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--batch-seconds", type=float, default=None, help="extract_windows batch_seconds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the child")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    result = measure(
        args.minutes,
        args.backbone,
        args.window,
        args.hop,
        args.layers,
        args.precision,
        args.threads,
        args.batch_seconds,
    )
    mib = result["peak_rss_bytes"] / 1024**2
    print(
        f"{result['minutes']:g} min of audio, {result['backbone']}, window {result['window']:g} s / "
        f"hop {result['hop']:g} s, layers {result['layers']}, {result['precision']}: "
        f"{result['windows']} windows in {result['extract_seconds']:.1f} s "
        f"({result['x_real_time']:.1f}x real time; child wall {result['child_wall_seconds']:.1f} s)"
    )
    print(
        f"peak RSS {mib:.0f} MiB (signal {result['signal_bytes'] / 1024**2:.0f} MiB): "
        f"{'under' if result['under_2gb'] else 'NOT under'} 2 GB; "
        f"load average {', '.join(f'{x:.1f}' for x in result['load_average'])}"
    )
    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from emocirc._io import write_json

        write_json(args.json, result)
    return 0 if result["under_2gb"] else 1


if __name__ == "__main__":
    sys.exit(main())
