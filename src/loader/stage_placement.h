// Which stage of a pipeline split by layers holds each tensor of a model: blk.N.* goes to the
// stage whose layer range holds N, the token embedding to the first stage, the output head, the
// final norm and the RoPE factors to the last. Decided from the header alone, before any weight
// is read, so that every tensor streams straight to the device that computes with it.
#pragma once

#include <vector>

#include "engine/pipeline.h"
#include "format/gguf.h"

namespace riglm {

struct StagedTensor {
  const GgufTensorInfo* tensor;
  int stage;
};

// InvalidArgument for stages that do not cover the model's layers; Corruption for a blk.N tensor
// past the last layer or a tensor name the model does not use.
Result<std::vector<StagedTensor>> PlaceTensorsByLayer(const GgufFile& gguf, int64_t layers,
                                                      const std::vector<PipelineStage>& stages);

}  // namespace riglm
