#!/usr/bin/env bash
# A real-size rehearsal of the book (issue 16, item 6): full-size synthetic IEMOCAP and EMODB in
# the releases' layouts, a randomly initialised wav2vec2-base under the hub id
# facebook/wav2vec2-base in a Hugging Face cache layout, then every chapter with
# examples/real-data.yml's settings; each chapter's time goes to OUT/rehearsal.json.
#
#   bash benchmarks/rehearsal.sh [OUT] [extra options of benchmarks/rehearsal.py]
#   bash benchmarks/rehearsal.sh /tmp/rehearsal --size reduced --device cpu   # what the tests run
#
# On a GPU machine: the full size, CUDA, rendering the corpora with every core.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/emocirc-rehearsal}
shift || true
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec "$PY" benchmarks/rehearsal.py --out "$OUT" --jobs "$(nproc)" "$@"
