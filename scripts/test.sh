#!/usr/bin/env bash
# Installs what riglm needs, builds it (optimized, warnings as errors) and runs every test.
# Usage: scripts/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release
cmake --build --preset release
ctest --preset release -j "$(nproc)" "$@"
