#!/usr/bin/env bash
# The test suite, set-up included: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# setup.sh dev installs TensorRT-RTX on x86-64 Linux: there its tests must run, not skip.
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
  export FASTSCNN_EDGE_REQUIRE_RTX=${FASTSCNN_EDGE_REQUIRE_RTX:-1}
  # ROS 2 (the node's tests) talks over loopback only, never to the network
  export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
  if .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
    export FASTSCNN_EDGE_REQUIRE_ROS2=${FASTSCNN_EDGE_REQUIRE_ROS2:-1}  # setup.sh dev installed Jazzy's rclpy
  fi
fi
exec .venv/bin/python -m pytest -q -ra "$@"
