#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: a virtual environment in .venv with
# fastscnn-edge installed. Idempotent; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${FASTSCNN_EDGE_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
pip_q() { $PIP install -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" >&2 || true; }
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  # Pinned: on CPU machines this is the CPU build (an unpinned torch pulls a multi-GB CUDA build).
  echo "[setup] installing torch ${FASTSCNN_EDGE_TORCH:-2.13.0}" >&2
  pip_q "torch==${FASTSCNN_EDGE_TORCH:-2.13.0}"
fi
EXTRAS=${1:-}
echo "[setup] installing fastscnn-edge${EXTRAS:+[$EXTRAS]}" >&2
pip_q -e ".${EXTRAS:+[$EXTRAS]}"
if [ "$EXTRAS" = "dev" ]; then
  # Type stubs for mypy on fastscnn_edge/trt; --no-deps: they declare the real tensorrt, not installable here.
  pip_q --no-deps "tensorrt-stubs==10.13.0.35.1"
fi
"$VENV/bin/python" -c "import fastscnn_edge, torch, onnxruntime" \
  || { echo "[setup] installation failed: see the pip output above" >&2; exit 1; }
# The Triton serving environment (.venv-triton) for `fastscnn-edge serve` and tests/test_triton.py.
if [ "$EXTRAS" = "dev" ]; then bash scripts/setup-triton.sh; fi
