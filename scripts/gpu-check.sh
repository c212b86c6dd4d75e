#!/usr/bin/env bash
# The prepared GPU check: on a machine with an NVIDIA GPU and a CUDA build of PyTorch, run the
# `gpu`-marked tests, then the paper's protocol (100 warm-up + 100 timed frames, batch 1) on the
# reference model with torch CUDA fp16 at 1024x2048, 512x1024 and 256x512, with and without CUDA
# graphs, and the stream runtime with 1, 2 and 4 camera streams. Results (JSON + Markdown naming the GPU,
# versions and settings) go to benchmarks/results/.
#
# No set-up of its own: it uses the interpreter that holds the CUDA torch (PYTHON, default python3)
# with this checkout on PYTHONPATH; wheels carried in .whl/ (e.g. onnxconverter-common, onnxslim on a
# machine without internet) are unpacked to a private folder first.
#   bash scripts/gpu-check.sh [extra bench options, e.g. --iters 50]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=${TMPDIR:-/tmp}/fastscnn-gpu-site
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
  || { echo "[gpu-check] error: $PY has no CUDA device through torch; run this on a GPU machine" >&2; exit 1; }
GPU=$("$PY" -c "import torch, re; print(re.sub(r'[^A-Za-z0-9]+', '-', torch.cuda.get_device_name(0)).strip('-').lower())")
DAY=$(date +%F)
OUT=benchmarks/results
mkdir -p "$OUT"
echo "[gpu-check] $("$PY" -c "import torch; print(torch.cuda.get_device_name(0), 'torch', torch.__version__, 'CUDA', torch.version.cuda)")" >&2

status=0
"$PY" -m pytest -q -ra -m gpu tests -p no:cacheprovider 2>&1 | tee "$OUT/gpu-tests-$GPU-$DAY.txt" || status=$?
for graph in "" "--cuda-graph"; do
  tag="gpu-torch-fp16-$GPU-$DAY${graph:+-cuda-graph}"
  "$PY" -m fastscnn_edge bench --backend torch --device cuda --half $graph \
    --json "$OUT/$tag.json" --markdown "$OUT/$tag.md" "$@" || status=$?
done
# The stream runtime on the GPU: 1, 2 and 4 synthetic camera streams through one torch CUDA fp16 runner
# at 512x1024 (decode-free: camera-sized frames are resized, normalized, run, labelled on the host).
for n in 1 2 4; do
  "$PY" -m fastscnn_edge bench --backend torch --device cuda --half --res 512x1024 --streams "$n" \
    --warmup 20 --iters 200 --json "$OUT/gpu-streams-$n-$GPU-$DAY.json" || status=$?
done
echo "[gpu-check] results: $OUT/gpu-tests-$GPU-$DAY.txt, $OUT/gpu-torch-fp16-$GPU-$DAY*.{json,md}, $OUT/gpu-streams-*-$GPU-$DAY.json (exit $status)" >&2
exit $status
