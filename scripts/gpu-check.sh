#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds riglm with the CUDA backend for that GPU, prints the
# inventory (riglm devices), and runs the CUDA checks against the CPU reference, where a missing
# GPU is a failure rather than a skip:
#   - every kernel against the CPU reference (every weight type, embedding lookups, norms, RoPE,
#     decode and prompt attention, cuBLAS prompt products);
#   - the decode step's logits on stories260K (F32, 1e-3), F16 (1e-3) and quantized (1e-2)
#     synthetic models against the CPU forward pass;
#   - a pipeline over three logical devices of one GPU, copied or streamed from the file, gives
#     exactly the logits of one stage; a prompt through Prefill those of token-by-token decoding;
#   - stories260K's greedy text, on one GPU and on 3 logical devices (riglm run), equals the CPU's.
#   - the decode step replayed from a CUDA graph gives the logits of launching its kernels one by one.
# Then the figures: pp512 and tg128 of synthetic llama-3.1-8b Q4_K_M and Q8_0 with the share of
# the GPU's memory bandwidth (weights generated while loading: no disk), and a ~26 GB model
# (synthetic llama-3.1-70b Q2_K) streamed into VRAM with its throughput and the peak host RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d . || true)"
cmake --preset cuda -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" -DRIGLM_BUILD_BENCH=OFF >/dev/null
cmake --build --preset cuda --target riglm cuda_kernels_test cuda_model_test
riglm=build/cuda/riglm
# Every check and figure runs even when an earlier one fails (GPU time is short); the summary at
# the end names the failures and sets the exit status.
failed=()
check() {
  local name="$1"
  shift
  if ! "$@"; then
    failed+=("$name")
    echo "FAILED: $name"
  fi
}
same_text_as_cpu() {
  local devices="$1" stories="${RIGLM_SHARED_DIR:-../shared}/models/stories260K.gguf" cpu_text gpu_text
  cpu_text="$($riglm run -m "$stories" -p "Once upon a time" -n 200 --temp 0 2>/dev/null)"
  gpu_text="$($riglm run -m "$stories" -p "Once upon a time" -n 200 --temp 0 --devices "$devices" 2>/dev/null)" || return 1
  if [ "$gpu_text" = "$cpu_text" ]; then
    echo "$devices: same text (${#gpu_text} bytes)"
  else
    echo "$devices: DIFFERENT:"; echo "gpu: $gpu_text"; echo "cpu: $cpu_text"; return 1
  fi
}
echo "== riglm devices =="
check devices $riglm devices
echo "== CUDA kernels vs the CPU reference =="
check kernels env RIGLM_REQUIRE_GPU=1 build/cuda/tests/cuda_kernels_test --gtest_brief=1
echo "== CUDA decode step vs the CPU forward pass; prompts; graphs; 3 logical devices vs 1; streamed vs copied =="
check model env RIGLM_REQUIRE_GPU=1 build/cuda/tests/cuda_model_test --gtest_brief=1
echo "== riglm run on the GPU: stories260K's greedy text equals the CPU's =="
check "text on cuda:0" same_text_as_cpu cuda:0
check "text on 3xcuda:0" same_text_as_cpu 3xcuda:0
echo "== pp512 and tg128 on the GPU: synthetic llama-3.1-8b =="
for type in Q4_K_M Q8_0; do
  check "bench $type" $riglm bench -m "synthetic:llama-3.1-8b:$type" -p 512 -n 128 -r 3 --devices cuda:0
done
echo "== the same Q4_K_M generation without the CUDA graph, and with the first matrix-vector kernel =="
check "bench without graph" env RIGLM_CUDA_GRAPH=0 $riglm bench -m synthetic:llama-3.1-8b:Q4_K_M -p 0 -n 128 -r 3 --devices cuda:0
check "bench direct matvec" env RIGLM_CUDA_MATVEC=direct $riglm bench -m synthetic:llama-3.1-8b:Q4_K_M -p 0 -n 128 -r 3 --devices cuda:0
echo "== streaming a ~26 GB model into VRAM: throughput and peak host RSS =="
check "load 26 GB" $riglm bench -m synthetic:llama-3.1-70b:Q2_K -p 0 -n 16 -r 1 --devices cuda:0 --load-buffer 128MiB
if ((${#failed[@]})); then
  printf '== %d check(s) failed:' "${#failed[@]}"; printf ' [%s]' "${failed[@]}"; echo
  exit 1
fi
echo "== every check passed =="
