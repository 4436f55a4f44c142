#!/usr/bin/env bash
# Installs what riglm needs, builds it, and serves a model on http://127.0.0.1:11434 (where
# Ollama clients look; the OpenAI API is under /v1): by default the tiny test model in
# ../shared, so that a fresh machine shows riglm working in a minute. Ctrl-C stops it.
# Usage: scripts/start.sh [MODEL.gguf or URL] [extra `riglm serve` flags, e.g. --host 0.0.0.0]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
model="${1:-${RIGLM_SHARED_DIR:-../shared}/models/stories260K.gguf}"
shift || true
echo "try: curl http://127.0.0.1:11434/v1/completions -d '{\"prompt\": \"Once upon a time\", \"max_tokens\": 50}'"
exec ./build/release/riglm serve -m "$model" "$@"
