#!/usr/bin/env bash
# Installs what riglm needs, builds it, and runs a model: by default the tiny test model in
# ../shared, so that a fresh machine shows riglm working in a minute.
# Usage: scripts/start.sh [MODEL.gguf] [extra `riglm run` flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
model="${1:-${RIGLM_SHARED_DIR:-../shared}/models/stories260K.gguf}"
shift || true
exec ./build/release/riglm run -m "$model" -p "Once upon a time" -n 200 "$@"
