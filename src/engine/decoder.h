// One sequence on whichever device holds the model, decoded a token at a time after its prompt:
// what a generation loop or a benchmark needs from a backend (the CUDA backend's interface). The
// CPU pipeline does more (many sequences at once) through PipelineRunner.
#pragma once

#include <cstdint>
#include <span>
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
  // The logits after the last of `tokens`, fed at positions position, position + 1, ... (a
  // prompt). The default decodes them one at a time; backends with a batched path override it.
  virtual Status Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits);
  // For reports: "cuda:0 (NVIDIA H100 80GB HBM3)".
  virtual std::string device_name() const = 0;
};

// The CPU engine behind the same interface: code written against it runs (and is tested) without
// a GPU.
class CpuSequenceDecoder : public SequenceDecoder {
 public:
  CpuSequenceDecoder(const LlamaModel& model, ThreadPool& pool, int64_t context);
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits) override;
  // Batches of up to kPrefillBatch tokens through the pipeline.
  Status Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits) override;
  std::string device_name() const override { return "cpu"; }
  static constexpr int64_t kPrefillBatch = 512;

 private:
  PipelineRunner runner_;
  Batch batch_;
};

}  // namespace riglm
