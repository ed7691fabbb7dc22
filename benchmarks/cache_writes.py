"""Feature-cache writes: one at a time on the caller's thread, against the background writers.

Every cache entry is fsync'ed before the rename that publishes it (so a
power cut never leaves a torn entry), and one fsync costs milliseconds on
most disks: written one after another, the entries of an IEMOCAP-sized
extraction cost tens of seconds, longer than a GPU takes to embed the audio.
:meth:`emocirc.features.FeatureCache.put` hands each entry to
``FeatureCache.WRITERS`` threads instead, so the waits overlap each other and
the model's work.  This script writes the same entries both ways, in the same
process, into fresh folders on the same disk, and prints the ratio.

    .venv/bin/python benchmarks/cache_writes.py                     # 1,000 entries of 13 x 768 floats
    .venv/bin/python benchmarks/cache_writes.py --entries 5531 --dir /fast/disk
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emocirc.features import FeatureCache  # noqa: E402


def timed(root: Path, arrays: list[np.ndarray], background: bool) -> float:
    cache = FeatureCache(root, "bench")
    start = time.perf_counter()
    if background:
        with cache:
            for i, array in enumerate(arrays):
                cache.put(f"{i:032x}", array)
    else:
        for i, array in enumerate(arrays):
            cache.write(f"{i:032x}", array)
    seconds = time.perf_counter() - start
    if len(cache) != len(arrays):
        raise SystemExit(f"{root}: {len(cache)} entries published, expected {len(arrays)}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000, help="entries to write (default 1000)")
    parser.add_argument("--layers", type=int, default=13, help="layers per entry (default 13)")
    parser.add_argument("--dim", type=int, default=768, help="hidden size (default 768, wav2vec2-base)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary folder)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs of each way; the best is kept (default 2)"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((args.layers, args.dim)).astype(np.float32) for _ in range(args.entries)]
    base = Path(tempfile.mkdtemp(prefix="emocirc-cache-bench-", dir=args.dir))
    best = {"serial": np.inf, "background": np.inf}
    try:
        for run in range(args.repeat):
            for way in best:  # alternate, so a disk's changing load hits both alike
                root = base / f"{way}-{run}"
                best[way] = min(best[way], timed(root, arrays, background=way == "background"))
                shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    kb = args.layers * args.dim * 4 / 1024
    print(f"{args.entries} entries of {kb:.0f} KiB, fsync'ed, in {base.parent}")
    for way, seconds in best.items():
        print(f"  {way:<10} {seconds:7.2f} s  {1000 * seconds / args.entries:6.2f} ms/entry")
    print(f"  background / serial speed: {best['serial'] / best['background']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
