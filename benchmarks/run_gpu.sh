#!/usr/bin/env bash
# Everything a lent GPU should run, in one go (about 6 minutes on an H100):
# the CUDA-only tests, the extraction ablation with a profile, and the
# fine-tuning step with and without CUDA graphs.  Logs and JSON go to $OUT
# (default: benchmarks/out).  Run from the repository root.
set -uo pipefail
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$OUT/gpu.txt"
timeout 150 $PY -m pytest -q -x -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/test_gpu.log"
timeout 200 $PY benchmarks/extract.py --device cuda --variants --profile --no-cache-test \
  --json "$OUT/extract_variants.json" 2>&1 | tee "$OUT/extract.log"
for args in "--batch-size 4" "--batch-size 4 --graphs" "--batch-size 4 --graphs --bucket" \
  "--batch-size 4 --graphs --module-pos-conv" "--batch-size 32" "--batch-size 32 --graphs"; do
  name=$(echo "$args" | tr -d '-' | tr ' ' '_')
  timeout 70 $PY benchmarks/finetune.py --model base-random $args --json "$OUT/finetune_$name.json" 2>&1 \
    | tee -a "$OUT/finetune.log"
done
