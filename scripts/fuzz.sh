#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 60) from its seed
# corpus. New inputs go to a scratch folder, never into the repository.
# Usage: scripts/fuzz.sh [SECONDS]  (each target runs that long)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
# A UBSan report is a finding like a crash: stop there, so the run fails.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in gguf template api safetensors; do
  mkdir -p "$scratch/$target"
  echo "fuzzing $target for ${seconds}s"
  (cd "$scratch" && "$OLDPWD/build/fuzz/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -max_len=65536 \
     -print_final_stats=1 "$scratch/$target" "$OLDPWD/tests/fuzz/corpus/$target")
done
