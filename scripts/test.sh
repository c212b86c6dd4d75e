#!/usr/bin/env bash
# The test suite, set-up included: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# setup.sh dev installs TensorRT-RTX on x86-64 Linux: there its tests must run, not skip.
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
  export FASTSCNN_EDGE_REQUIRE_RTX=${FASTSCNN_EDGE_REQUIRE_RTX:-1}
fi
exec .venv/bin/python -m pytest -q -ra "$@"
