// The llama-family forward pass on the CPU backend: embeddings, a range of transformer layers,
// and the output head, over a batch of tokens that may belong to several sequences.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/matmul.h"
#include "model/kv_cache.h"
#include "model/llama_model.h"
#include "util/thread_pool.h"

namespace riglm {

// Tokens to evaluate together. A prompt is one batch of consecutive positions; decoding several
// sequences puts one token of each in a batch.
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> seq_ids;
  std::vector<uint8_t> want_logits;  // 1 where the caller needs this token's logits

  void Add(int32_t token, int32_t position, int32_t seq_id, bool logits) {
    tokens.push_back(token);
    positions.push_back(position);
    seq_ids.push_back(seq_id);
    want_logits.push_back(logits ? 1 : 0);
  }
  void Clear() {
    tokens.clear();
    positions.clear();
    seq_ids.clear();
    want_logits.clear();
  }
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
};

class ForwardPass {
 public:
  // Both must outlive the ForwardPass.
  ForwardPass(const LlamaModel& model, ThreadPool& pool);

  // Runs the whole model. `logits` receives one row of vocab_size floats per token whose
  // want_logits is set, in batch order. Tokens of one sequence must come in position order, and
  // positions before a token's own must already be in the cache (or earlier in the batch).
  Status Run(const Batch& batch, KvCache& cache, std::vector<float>* logits);

  // The pieces Run is made of, for pipelines that put layer ranges on different devices.
  // Hidden states are [batch, embedding] f32.
  Status Validate(const Batch& batch, const KvCache& cache) const;
  // Gives each sequence of the batch cache blocks up to its last position in the batch;
  // ResourceExhausted when the cache has too few free blocks.
  static Status ReserveCache(const Batch& batch, KvCache& cache);
  void Embed(const Batch& batch, float* hidden);
  void RunLayers(int64_t first_layer, int64_t end_layer, const Batch& batch, KvCache& cache, float* hidden);
  void Head(const Batch& batch, const float* hidden, std::vector<float>* logits);

 private:
  void Attention(int64_t layer_idx, const Batch& batch, KvCache& cache);
  void PrepareToken(int64_t layer_idx, const Batch& batch, int64_t t, KvCache& cache);

  const LlamaModel& model_;
  const ModelConfig& config_;
  ThreadPool& pool_;
  cpu::MatMulScratch scratch_;
  // Workspace, grown to the largest batch seen and reused.
  std::vector<float> hidden_;    // [batch, embedding]
  std::vector<float> normed_;    // [batch, embedding]
  std::vector<float> q_;         // [batch, q_width]
  std::vector<float> k_;         // [batch, kv_width]
  std::vector<float> v_;         // [batch, kv_width]
  std::vector<float> attn_out_;  // [batch, q_width]
  struct AttentionRun {
    int64_t first;  // batch index of its first token
    int tokens;
  };
  std::vector<AttentionRun> attention_runs_;  // a batch's runs of one sequence's consecutive positions
  std::vector<float> proj_;      // [batch, embedding]
  std::vector<float> gate_;      // [batch, ffn]
  std::vector<float> up_;        // [batch, ffn]
  std::vector<float> rope_angles_;  // [batch, rope dims]: each token's cosines and sines, for all layers
};

}  // namespace riglm
