#!/usr/bin/env bash
# The CPU speed figures in one run: prompt (pp512) and generation (tg128) tokens/s of synthetic
# files in the shape the CPU-kernel issue compares engines on (16 layers, width 2048, 32 / 8 heads,
# FFN 8192, vocabulary 32000, untied output), in Q4_0 (output Q6_K), Q8_0 and Q4_K_M, with the
# memory read bandwidth and generation's share of its ceiling that `riglm bench` measures.
#
# Usage: scripts/cpu-bench.sh [threads (2)] [repetitions (5)] [types (Q4_0 Q8_0 Q4_K_M)...]
#   RIGLM_BENCH_DIR: where the synthetic files go (default ${TMPDIR:-/tmp}/riglm-cpu-bench, about
#   2.5 GB for the three; they are kept for the next run).
#
# Memory bandwidth on shared machines swings from minute to minute: to compare with another engine,
# run both back to back on these same files, alternately, and compare medians.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
reps="${2:-5}"
shift $(($# < 2 ? $# : 2))
types=("$@")
[[ "$threads" =~ ^[0-9]+$ && "$reps" =~ ^[0-9]+$ ]] || { echo "usage: $0 [threads] [repetitions] [types...]" >&2; exit 2; }
((${#types[@]})) || types=(Q4_0 Q8_0 Q4_K_M)
dir="${RIGLM_BENCH_DIR:-${TMPDIR:-/tmp}/riglm-cpu-bench}"
mkdir -p "$dir"

cmake --preset release >/dev/null
cmake --build --preset release --target riglm
riglm=build/release/riglm

grep -m1 'model name' /proc/cpuinfo || true
echo "cores: $(nproc), ISA flags: $(grep -m1 -o -w -E 'avx512f|avx512_vnni|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
for type in "${types[@]}"; do
  file="$dir/l1b-$type.gguf"
  if [ ! -s "$file" ]; then
    "$riglm" synth --layers 16 --embd 2048 --heads 32 --kv-heads 8 --ffn 8192 --vocab 32000 --type "$type" \
      -o "$file.part"
    mv "$file.part" "$file"
  fi
  echo
  echo "== $type: $file"
  "$riglm" bench -m "$file" -p 512 -n 128 -t "$threads" -r "$reps"
done
