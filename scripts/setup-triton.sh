#!/usr/bin/env bash
# The Triton serving environment: .venv-triton with the tritonserver binary that ships in the
# nvidia-pytriton wheel (Python backend only), numpy < 2 (PyTriton's pin) and onnxruntime.
# Separate from .venv because of that pin, and made from Debian's /usr/bin/python3.11: Triton's
# Python-backend stub embeds the system libpython3.11, so the environment's standard library must
# be the same build (a pyenv 3.11 fails at model load, a 3.12 stub finds no libpython).
# Idempotent. Any failed install fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${TRITON_PYTHON:-/usr/bin/python3.11}
VENV=${FASTSCNN_EDGE_TRITON_ENV:-.venv-triton}
PYTRITON=${FASTSCNN_EDGE_PYTRITON:-nvidia-pytriton==0.7.0}
if [ ! -x "$PY" ]; then
  echo "[setup-triton] $PY not found: the Triton Python backend needs the system Python 3.11 and its" \
       "libpython3.11 (Debian/Ubuntu: apt-get install python3.11 python3.11-venv libpython3.11)." >&2
  exit 1
fi
case "$(uname -m)-$(uname -s)" in
  x86_64-Linux) ;;
  *) echo "[setup-triton] nvidia-pytriton ships for x86-64 Linux (manylinux_2_35) only; this is $(uname -sm)." >&2; exit 1 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup-triton] creating $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import pytriton, onnxruntime, numpy, tritonclient.http" 2>/dev/null; then
  echo "[setup-triton] installing $PYTRITON, onnxruntime, numpy<2" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$PYTRITON" "numpy<2" "onnxruntime>=1.16" 2>&1 \
    | { grep -v "^WARNING: Location" || true; } >&2
fi
"$VENV/bin/python" - <<'PY' || { echo "[setup-triton] the Triton environment is incomplete: see the pip output above" >&2; exit 1; }
import pathlib, sys
import numpy, onnxruntime, pytriton
root = pathlib.Path(pytriton.__file__).parent / "tritonserver"
v = f"{sys.version_info[0]}.{sys.version_info[1]}"
assert (root / "bin" / "tritonserver").is_file(), "no tritonserver binary in the wheel"
assert (root / "python_backend_stubs" / v / "triton_python_backend_stub").is_file(), f"no stub for Python {v}"
print(f"[setup-triton] {sys.prefix}: tritonserver, Python {v}, numpy {numpy.__version__}, "
      f"onnxruntime {onnxruntime.__version__}", file=sys.stderr)
PY
