// A model run as a pipeline of contiguous layer ranges, one per device: the first stage embeds
// the tokens, each stage runs its layers with its own KV cache, hands the hidden states to the
// next, and the last applies the output head. Only [batch, embedding] activations move between
// stages. One stage covering every layer is the plain single-device case.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/forward.h"

namespace riglm {

struct PipelineStage {
  std::string device;  // for messages
  int64_t first_layer = 0;
  int64_t end_layer = 0;  // one past the last
};

// Stages must cover [0, layers) in order without gaps; InvalidArgument says where they do not.
Status CheckStages(const std::vector<PipelineStage>& stages, int64_t layers);

class PipelineRunner {
 public:
  // REQUIRES: CheckStages(stages, model layers).ok(). Empty stages: one stage with every layer.
  // kv_positions: KV cache positions shared by all sequences (-1: each can fill its context).
  PipelineRunner(const LlamaModel& model, ThreadPool& pool, int64_t context_length, int num_sequences,
                 KvCacheTypes kv_types = {}, std::vector<PipelineStage> stages = {}, int64_t kv_positions = -1);

  // As ForwardPass::Run, across the stages.
  Status Run(const Batch& batch, std::vector<float>* logits);

  int64_t context_length() const { return stages_.front().cache->context_length(); }
  // Frees a finished sequence's KV cache blocks on every stage.
  void Release(int seq);
  // Every stage holds the same positions: the first one's blocks stand for all.
  int64_t kv_blocks_total() const { return stages_.front().cache->blocks_total(); }
  int64_t kv_blocks_used() const { return kv_blocks_total() - stages_.front().cache->blocks_free(); }
  const std::vector<PipelineStage>& stages() const { return layout_; }

 private:
  struct Stage {
    std::unique_ptr<ForwardPass> forward;
    std::unique_ptr<KvCache> cache;
    std::vector<float> hidden;  // this stage's copy of the activations, as on its own device
  };
  const LlamaModel& model_;
  std::vector<PipelineStage> layout_;
  std::vector<Stage> stages_;
};

}  // namespace riglm
