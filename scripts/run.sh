#!/usr/bin/env bash
# The main job, set-up included: export Fast-SCNN at the paper's three resolutions, then build
# and benchmark on the best backend present (TensorRT FP16 where TensorRT and a GPU exist, else
# onnxruntime). Extra arguments go to `bench` (e.g. --iters 20 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
FE=".venv/bin/fastscnn-edge"
mkdir -p runs
"$FE" export
stamp=$(date +%Y%m%d-%H%M%S)
if .venv/bin/python -c "from fastscnn_edge.backends import tensorrt_available as t; raise SystemExit(0 if t() else 1)"; then
  "$FE" build-engine --fp16
  "$FE" bench --backend tensorrt --json "runs/bench-$stamp.json" --markdown "runs/bench-$stamp.md" "$@"
else
  echo "[run] TensorRT is not installed here: benchmarking the exported models with onnxruntime" >&2
  "$FE" bench --backend onnxruntime --json "runs/bench-$stamp.json" --markdown "runs/bench-$stamp.md" "$@"
fi
echo "[run] report: runs/bench-$stamp.md" >&2
