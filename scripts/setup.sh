#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: a virtual environment with fastscnn-edge.
# Idempotent; safe to run on a fresh machine. Any failed install stops it with a non-zero exit.
#
#   bash scripts/setup.sh            runtime + export (PyTorch, pinned CPU build on desktops)
#   bash scripts/setup.sh runtime    runtime only: quantize, build-engine, bench, predict, eval (no torch)
#   bash scripts/setup.sh dev        + test tools, TensorRT-RTX (x86-64) and the TensorRT type stubs
#
# On a Jetson (/etc/nv_tegra_release) the venv sees JetPack's system packages (its `tensorrt`), no
# torch comes from the registry (export on a desktop, or install NVIDIA's wheel for your JetPack
# yourself), and cuda-python matches JetPack's CUDA (11.x on JetPack 5, 12.x on JetPack 6).
# Environment: PYTHON (interpreter, default python3), FASTSCNN_EDGE_VENV (default .venv),
# FASTSCNN_EDGE_TORCH (torch version, default 2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${FASTSCNN_EDGE_VENV:-.venv}
MODE=${1:-}
TORCH=${FASTSCNN_EDGE_TORCH:-2.13.0}
RTX_PIN="tensorrt-rtx-cu13==1.7.1.116"

say() { echo "[setup] $*" >&2; }
die() { echo "[setup] error: $*" >&2; exit 1; }

case "$MODE" in ""|runtime|dev) ;; *) die "unknown mode '$MODE': use nothing, 'runtime' or 'dev'";; esac
command -v "$PY" >/dev/null 2>&1 || die "no Python interpreter '$PY'; set PYTHON=/path/to/python3 (3.8 or newer)"
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' || die "Python $PYVER is too old: 3.8 or newer is needed"

JETSON=""
if [ -f /etc/nv_tegra_release ]; then
  JETSON=$(sed -n 's/^# R\([0-9]*\).*/\1/p' /etc/nv_tegra_release | head -n 1)  # L4T release: 35 = JetPack 5, 36 = JetPack 6
  say "Jetson detected (L4T R${JETSON:-?}): JetPack's TensorRT from the system, no torch from the registry"
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV (Python $PYVER)"
  if [ -n "$JETSON" ]; then
    "$PY" -m venv --system-site-packages "$VENV"  # JetPack's tensorrt (and cuda bindings) live there
  else
    "$PY" -m venv "$VENV"
  fi
fi
VPY="$VENV/bin/python"
pip_i() {
  "$VPY" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location" >&2) \
    || die "pip install $* failed (see above)"
}

WANT_TORCH=yes
if [ "$MODE" = "runtime" ] || [ -n "$JETSON" ]; then
  WANT_TORCH=no
fi
if [ "$WANT_TORCH" = yes ] && ! "$VPY" -c "import torch" 2>/dev/null; then
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    die "torch $TORCH needs Python >= 3.10 and this is $PYVER: use 'bash scripts/setup.sh runtime' for the torch-free runtime (quantize, build-engine, bench, predict, eval, compare), or PYTHON=python3.11 for export/train"
  fi
  # Pinned: on CPU machines this is the CPU build (an unpinned torch pulls a multi-GB CUDA build).
  say "installing torch $TORCH"
  pip_i "torch==$TORCH"
fi

EXTRAS=""
if [ "$MODE" = "dev" ]; then
  EXTRAS="dev"
elif [ "$WANT_TORCH" = yes ]; then
  EXTRAS="export"
fi
say "installing fastscnn-edge${EXTRAS:+[$EXTRAS]}"
pip_i -e ".${EXTRAS:+[$EXTRAS]}"

if [ -n "$JETSON" ]; then
  # cuda-python for the engine runner's buffers, matching JetPack's CUDA (unless JetPack's pycuda is there)
  if ! "$VPY" -c "import cuda" 2>/dev/null && ! "$VPY" -c "import pycuda" 2>/dev/null; then
    if [ "${JETSON:-0}" -ge 36 ] 2>/dev/null; then pip_i "cuda-python>=12,<13"; else pip_i "cuda-python>=11.8,<12"; fi
  fi
  "$VPY" -c "import tensorrt" 2>/dev/null \
    || die "JetPack's TensorRT Python package is not visible: sudo apt install python3-libnvinfer (JetPack 5/6), then re-run"
fi

if [ "$MODE" = "dev" ]; then
  # Type stubs for mypy on fastscnn_edge/runtime/trt; --no-deps: they declare the real tensorrt, not installable here.
  pip_i --no-deps "tensorrt-stubs==10.13.0.35.1"
  if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
    # TensorRT-RTX: NVIDIA's own ONNX parser and builder, which run without a GPU; the tests build with it.
    "$VPY" -c "import tensorrt_rtx" 2>/dev/null || { say "installing TensorRT-RTX ($RTX_PIN)"; pip_i "$RTX_PIN"; }
  else
    say "TensorRT-RTX has no wheel for $(uname -s)-$(uname -m): its tests skip here"
  fi
fi

CHECK="import fastscnn_edge, onnxruntime"
[ "$WANT_TORCH" = yes ] && CHECK="$CHECK, torch"
[ "$MODE" = "dev" ] && [ "$(uname -m)" = x86_64 ] && CHECK="$CHECK, tensorrt_rtx"
# ROS 2 Jazzy's wheels (the [ros2] extra): x86-64 Linux, Python 3.11 only; elsewhere source a ROS 2 install
[ "$MODE" = "dev" ] && [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ "$PYVER" = "3.11" ] && CHECK="$CHECK, rclpy, rosbags"
"$VPY" -c "$CHECK" || die "installation incomplete ($CHECK failed): see the pip output above"
# The Triton serving environment (.venv-triton, its own numpy<2) for `fastscnn-edge serve` and
# tests/serve/test_triton.py; x86-64 Linux with the system Python 3.11 only.
if [ "$MODE" = "dev" ] && [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ -x /usr/bin/python3.11 ]; then
  bash scripts/setup-triton.sh
fi
