#!/usr/bin/env bash
# The main job, set-up included: export Fast-SCNN at the paper's three resolutions, build FP16
# engines where a TensorRT is installed, and benchmark on the best backend that can run here:
# TensorRT on an NVIDIA GPU; TensorRT-RTX engines on an RTX GPU; else onnxruntime on the CPU.
# Extra arguments go to `bench` (e.g. --iters 20 --warmup 20 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
FE=".venv/bin/fastscnn-edge"
PYV=".venv/bin/python"
have() { "$PYV" -c "from fastscnn_edge.core.machine import $1 as f; raise SystemExit(0 if f() else 1)"; }
mkdir -p runs
"$FE" export
stamp=$(date +%Y%m%d-%H%M%S)
REPORT=(--json "runs/bench-$stamp.json" --markdown "runs/bench-$stamp.md")
if have tensorrt_available && have gpu_present; then
  "$FE" build-engine --fp16 --runtime tensorrt
  "$FE" bench --backend tensorrt "${REPORT[@]}" "$@"
elif have tensorrt_rtx_available; then
  "$FE" build-engine --fp16 --runtime rtx
  if have gpu_present; then
    "$FE" bench "${REPORT[@]}" "$@"  # the RTX engines where this GPU can run them, else the ONNX, with the reason
  else
    echo "[run] built the TensorRT-RTX FP16 engines (artifacts/engines/*.fp16.rtx.engine); running them needs an Ampere-or-later RTX GPU and this machine has none: benchmarking the ONNX with onnxruntime on the CPU" >&2
    "$FE" bench --backend onnxruntime "${REPORT[@]}" "$@"
  fi
else
  echo "[run] no TensorRT here (nor TensorRT-RTX): benchmarking the exported models with onnxruntime" >&2
  "$FE" bench --backend onnxruntime "${REPORT[@]}" "$@"
fi
echo "[run] report: runs/bench-$stamp.md" >&2
