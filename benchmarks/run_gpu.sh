#!/usr/bin/env bash
# Everything a lent GPU should run, in one go (about 7 minutes on an H100):
# the extraction ablation with a profile, then run_gpu_finetune.sh (the
# fine-tuning step with CUDA graphs and compiled layers, and the CUDA-only
# tests).  Logs and JSON go to $OUT (default: benchmarks/out).  Run from the repository root.
set -uo pipefail
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
timeout 200 $PY benchmarks/extract.py --device cuda --variants --profile --no-cache-test \
  --json "$OUT/extract_variants.json" 2>&1 | tee "$OUT/extract.log"
OUT="$OUT" PYTHON="$PY" bash benchmarks/run_gpu_finetune.sh
