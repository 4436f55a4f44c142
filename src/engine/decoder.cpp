#include "engine/decoder.h"

namespace riglm {

CpuSequenceDecoder::CpuSequenceDecoder(const LlamaModel& model, ThreadPool& pool, int64_t context)
    : runner_(model, pool, context, 1) {}

Status CpuSequenceDecoder::Decode(int32_t token, int64_t position, std::vector<float>* logits) {
  batch_.Clear();
  batch_.Add(token, static_cast<int32_t>(position), 0, true);
  return runner_.Run(batch_, logits);
}

}  // namespace riglm
