"""Pre-training budget and what it buys: time, held-out masked prediction, and emotion probes against random init.

For each variant (objective x architecture) it pre-trains on the embedded
pre-training corpus (:func:`emocirc.backbones.pretraining_corpus`) and prints

- wall time and CPU time of the run (the machine may be shared: CPU time is
  what the run itself used, summed over its threads);
- held-out loss and masked-prediction accuracy at random initialisation
  (step 0) and at the end;
- chapter 3's linear emotion probe (unweighted average recall, leave one
  session out) and arousal probe (CCC) on the embedded IEMOCAP, best hidden
  state, for the pre-trained encoder and for the same network at its random
  initialisation.

Not a timed test: figures for benchmarks/README.md.

    PYTHONPATH=. python benchmarks/pretrain.py --variants hubert-4x64 wav2vec2-4x64 --json out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from emocirc._io import write_json
from emocirc.backbones import (
    PRETRAIN_THREADS,
    PRETRAINED_BUILTINS,
    Backbone,
    ensure_pretrained,
    fingerprint,
    pretraining_corpus,
)
from emocirc.corpora import load_corpus
from emocirc.features import extract_features
from emocirc.pretrain import PretrainConfig, _build_model, pretrain, read_pretrain_log
from emocirc.probing import layer_probe
from emocirc.synth import ensure_corpus

#: Variants: name -> settings over the built-in's (objective, width, depth).
VARIANTS: dict[str, dict] = {
    # The built-in itself, built into (or reused from) the cache by load_backbone's own code.
    "builtin": {},
    "hubert-4x64": {"objective": "hubert"},
    "wav2vec2-4x64": {"objective": "wav2vec2"},
    "hubert-2x64": {"objective": "hubert", "num_layers": 2},
    "hubert-4x128": {"objective": "hubert", "hidden_size": 128, "intermediate_size": 256},
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _probe(encoder, name: str, iemocap, seed: int = 0) -> dict[str, float]:
    encoder.eval()
    bb = Backbone(model=encoder, name=name, do_normalize=True, fingerprint=fingerprint(encoder))
    feats = extract_features(iemocap, bb, device="cpu", precision="fp32", progress=False)
    table = layer_probe(feats, ["label", "arousal"], groups=iemocap["session"], n_splits=None, seed=seed)
    best = table.loc[table.groupby("target")["score"].idxmax()].set_index("target")
    return {
        "emotion_ua": float(best.loc["label", "score"]),
        "emotion_layer": int(best.loc["label", "layer"]),
        "arousal_ccc": float(best.loc["arousal", "score"]),
        "arousal_layer": int(best.loc["arousal", "layer"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["hubert-4x64"], choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=None, help="override the built-in's steps")
    parser.add_argument("--threads", type=int, default=PRETRAIN_THREADS)
    parser.add_argument("--corpus", default=None, help="pre-training corpus (default: the built-in's)")
    parser.add_argument("--iemocap-scale", type=float, default=1.0)
    parser.add_argument("--no-probe", action="store_true")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    corpus = Path(args.corpus) if args.corpus else pretraining_corpus()
    iemocap = (
        None
        if args.no_probe
        else load_corpus(ensure_corpus("iemocap", scale=args.iemocap_scale), four_class=True)
    )
    root = Path(args.out or tempfile.mkdtemp(prefix="emocirc-pretrain-bench-"))
    results = []
    print(f"corpus {corpus}; {args.threads} threads; runs in {root}", flush=True)
    for name in args.variants:
        settings = {**PRETRAINED_BUILTINS["tiny-pretrained"], **VARIANTS[name]}
        if args.steps and name != "builtin":
            settings["steps"] = args.steps
        config = PretrainConfig(**settings)
        wall, cpu = time.perf_counter(), _cpu_seconds()
        if name == "builtin":
            run = ensure_pretrained("tiny-pretrained", progress=False)
        else:
            run = pretrain(corpus, config, root / name, progress=False)
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        log = read_pretrain_log(run)
        row = {
            "variant": name,
            "run": str(run),
            "steps": config.steps,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "held_out_loss_random": float(log["held_out_loss"].iloc[0]),
            "held_out_loss": float(log["held_out_loss"].iloc[-1]),
            "held_out_accuracy_random": float(log["held_out_accuracy"].iloc[0]),
            "held_out_accuracy": float(log["held_out_accuracy"].iloc[-1]),
        }
        if iemocap is not None:
            from transformers import AutoModel

            trained = _probe(AutoModel.from_pretrained(run), f"{name}-pretrained", iemocap)
            torch.manual_seed(config.seed)
            random = _probe(_build_model(config).wav2vec2, f"{name}-random", iemocap)
            row.update({f"pretrained_{k}": v for k, v in trained.items()})
            row.update({f"random_{k}": v for k, v in random.items()})
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        write_json(args.json, {"argv": sys.argv[1:], "threads": args.threads, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
