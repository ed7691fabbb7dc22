#!/usr/bin/env bash
# The fine-tuning half of run_gpu.sh (about 3.5 minutes on an H100): the
# step at batch 32 replayed from CUDA graphs with and without compiled
# transformer layers, with a kernel profile of each, the CUDA-only tests,
# and batch 4 with graphs and compiled layers.  Logs and JSON go to $OUT
# (default: benchmarks/out).  Run from the repository root.
set -uo pipefail
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONWARNINGS=ignore
PY=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch, transformers, triton; print('torch', torch.__version__, 'transformers', transformers.__version__, 'triton', triton.__version__)"
} 2>&1 | tee "$OUT/gpu.txt"
run() {  # name, time limit, arguments
  local name=$1 limit=$2; shift 2
  timeout "$limit" $PY benchmarks/finetune.py --model base-random "$@" --json "$OUT/finetune_$name.json" \
    >"$OUT/finetune_$name.log" 2>&1
  echo "[$name] exit $?: $(grep -E "utterances/s|Error" "$OUT/finetune_$name.log" | tail -n 2)"
}
run bs32_graphs_compile 80 --batch-size 32 --graphs --compile --steps 100 --profile
run bs32_graphs 40 --batch-size 32 --graphs --steps 100 --profile
timeout 100 $PY -m pytest -q -p no:cacheprovider tests/test_gpu.py >"$OUT/test_gpu.log" 2>&1
echo "[tests] exit $?: $(tail -n 1 "$OUT/test_gpu.log")"
run bs4_graphs_compile 50 --batch-size 4 --graphs --compile --steps 150
for f in "$OUT"/finetune_*.log; do grep -A 12 "GPU time of 5 steps" "$f" | sed "s|^|$(basename "$f" .log): |"; done
