#include "engine/pipeline.h"

#include <cstring>

namespace riglm {

Status CheckStages(const std::vector<PipelineStage>& stages, int64_t layers) {
  int64_t next = 0;
  for (const PipelineStage& s : stages) {
    if (s.first_layer != next || s.end_layer <= s.first_layer) {
      return InvalidArgument("pipeline stage on " + s.device + " covers layers " + std::to_string(s.first_layer) + "-" +
                             std::to_string(s.end_layer - 1) + ", expected to start at layer " + std::to_string(next));
    }
    next = s.end_layer;
  }
  if (next != layers) {
    return InvalidArgument("the pipeline covers " + std::to_string(next) + " of the model's " + std::to_string(layers) + " layers");
  }
  return Status::Ok();
}

PipelineRunner::PipelineRunner(const LlamaModel& model, ThreadPool& pool, int64_t context_length, int num_sequences,
                               KvCacheTypes kv_types, std::vector<PipelineStage> stages, int64_t kv_positions)
    : model_(model), layout_(std::move(stages)) {
  const int64_t layers = model.config().block_count;
  if (layout_.empty()) layout_.push_back({"cpu", 0, layers});
  for (const PipelineStage& s : layout_) {
    Stage stage;
    stage.forward = std::make_unique<ForwardPass>(model, pool);
    stage.cache = std::make_unique<KvCache>(model.config(), context_length, num_sequences, s.first_layer,
                                            s.end_layer - s.first_layer, kv_types, kv_positions);
    stages_.push_back(std::move(stage));
  }
}

Status PipelineRunner::Run(const Batch& batch, std::vector<float>* logits) {
  RIGLM_RETURN_IF_ERROR(stages_.front().forward->Validate(batch, *stages_.front().cache));
  for (Stage& s : stages_) RIGLM_RETURN_IF_ERROR(ForwardPass::ReserveCache(batch, *s.cache));
  const size_t width = static_cast<size_t>(batch.size() * model_.config().embedding_length);
  for (Stage& s : stages_) s.hidden.resize(width);
  stages_.front().forward->Embed(batch, stages_.front().hidden.data());
  for (size_t i = 0; i < stages_.size(); ++i) {
    Stage& s = stages_[i];
    s.forward->RunLayers(layout_[i].first_layer, layout_[i].end_layer, batch, *s.cache, s.hidden.data());
    if (i + 1 < stages_.size()) {
      // The hand-over between devices: only the activations cross.
      std::memcpy(stages_[i + 1].hidden.data(), s.hidden.data(), width * sizeof(float));
    }
  }
  stages_.back().forward->Head(batch, stages_.back().hidden.data(), logits);
  return Status::Ok();
}

void PipelineRunner::Release(int seq) {
  for (Stage& s : stages_) s.cache->Release(seq);
}

}  // namespace riglm
