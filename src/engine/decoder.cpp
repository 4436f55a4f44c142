#include "engine/decoder.h"

#include <algorithm>

namespace riglm {

Status SequenceDecoder::Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits) {
  if (tokens.empty()) return InvalidArgument("a prompt of no tokens");
  for (size_t i = 0; i < tokens.size(); ++i) RIGLM_RETURN_IF_ERROR(Decode(tokens[i], position + static_cast<int64_t>(i), logits));
  return Status::Ok();
}

CpuSequenceDecoder::CpuSequenceDecoder(const LlamaModel& model, ThreadPool& pool, int64_t context)
    : runner_(model, pool, context, 1) {}

Status CpuSequenceDecoder::Decode(int32_t token, int64_t position, std::vector<float>* logits) {
  batch_.Clear();
  batch_.Add(token, static_cast<int32_t>(position), 0, true);
  return runner_.Run(batch_, logits);
}

Status CpuSequenceDecoder::Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits) {
  if (tokens.empty()) return InvalidArgument("a prompt of no tokens");
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t begin = 0; begin < n; begin += kPrefillBatch) {
    const int64_t end = std::min(n, begin + kPrefillBatch);
    batch_.Clear();
    for (int64_t i = begin; i < end; ++i) batch_.Add(tokens[i], static_cast<int32_t>(position + i), 0, i == n - 1);
    RIGLM_RETURN_IF_ERROR(runner_.Run(batch_, logits));
  }
  return Status::Ok();
}

}  // namespace riglm
