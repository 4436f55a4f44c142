#include "loader/stage_placement.h"

#include <charconv>

#include "util/strings.h"

namespace riglm {

Result<std::vector<StagedTensor>> PlaceTensorsByLayer(const GgufFile& gguf, int64_t layers,
                                                      const std::vector<PipelineStage>& stages) {
  RIGLM_RETURN_IF_ERROR(CheckStages(stages, layers));
  const int last = static_cast<int>(stages.size()) - 1;
  std::vector<StagedTensor> out;
  out.reserve(gguf.tensors().size());
  for (const GgufTensorInfo& t : gguf.tensors()) {
    if (StartsWith(t.name, "blk.")) {
      int64_t layer = -1;
      const char* begin = t.name.data() + 4;
      const char* end = t.name.data() + t.name.size();
      const auto [next, error] = std::from_chars(begin, end, layer);
      if (error != std::errc() || next == end || *next != '.' || layer < 0 || layer >= layers) {
        return Corruption(gguf.name() + ": tensor '" + t.name + "' names no layer of this " + std::to_string(layers) +
                          "-layer model");
      }
      int stage = 0;
      while (layer >= stages[stage].end_layer) ++stage;
      out.push_back({&t, stage});
    } else if (t.name == "token_embd.weight") {
      out.push_back({&t, 0});
    } else if (StartsWith(t.name, "output") || t.name == "rope_freqs.weight") {
      out.push_back({&t, last});
    } else {
      return Corruption(gguf.name() + ": tensor '" + t.name + "' is not part of a llama-family model");
    }
  }
  return out;
}

}  // namespace riglm
