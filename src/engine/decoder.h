// One sequence decoded a token at a time on whichever device holds the model: what a generation
// loop or a benchmark needs from a backend that has no batched path yet (the CUDA backend's
// first version). The CPU pipeline does more (batches, many sequences) through PipelineRunner.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/pipeline.h"
#include "util/status.h"

namespace riglm {

class SequenceDecoder {
 public:
  virtual ~SequenceDecoder() = default;
  // The logits after `token` at `position`; every earlier position must have been decoded.
  virtual Status Decode(int32_t token, int64_t position, std::vector<float>* logits) = 0;
  // For reports: "cuda:0 (NVIDIA H100 80GB HBM3)".
  virtual std::string device_name() const = 0;
};

// The CPU engine behind the same interface: code written against it runs (and is tested) without
// a GPU.
class CpuSequenceDecoder : public SequenceDecoder {
 public:
  CpuSequenceDecoder(const LlamaModel& model, ThreadPool& pool, int64_t context);
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits) override;
  std::string device_name() const override { return "cpu"; }

 private:
  PipelineRunner runner_;
  Batch batch_;
};

}  // namespace riglm
