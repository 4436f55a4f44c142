#include "model/forward.h"

#include <cmath>

#include "backend/cpu/ops.h"
#include "tensor/quant.h"

namespace riglm {

ForwardPass::ForwardPass(const LlamaModel& model, ThreadPool& pool)
    : model_(model), config_(model.config()), pool_(pool) {}

Status ForwardPass::Validate(const Batch& batch, const KvCache& cache) const {
  if (batch.size() == 0) return InvalidArgument("empty batch");
  for (int64_t i = 0; i < batch.size(); ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= config_.vocab_size) {
      return InvalidArgument("token id " + std::to_string(batch.tokens[i]) + " is outside the vocabulary of " +
                             std::to_string(config_.vocab_size));
    }
    if (batch.positions[i] < 0 || batch.positions[i] >= cache.context_length()) {
      return InvalidArgument("position " + std::to_string(batch.positions[i]) + " is outside the context of " +
                             std::to_string(cache.context_length()) + " tokens");
    }
    if (batch.seq_ids[i] < 0 || batch.seq_ids[i] >= cache.num_sequences()) {
      return InvalidArgument("sequence " + std::to_string(batch.seq_ids[i]) + " does not exist");
    }
  }
  return Status::Ok();
}

Status ForwardPass::ReserveCache(const Batch& batch, KvCache& cache) {
  for (int64_t i = 0; i < batch.size(); ++i) {
    if (!cache.Reserve(batch.seq_ids[i], batch.positions[i] + 1)) {
      return Unavailable("the KV cache is full: no free block for position " +
                               std::to_string(batch.positions[i]) + " of sequence " +
                               std::to_string(batch.seq_ids[i]));
    }
  }
  return Status::Ok();
}

Status ForwardPass::Run(const Batch& batch, KvCache& cache, std::vector<float>* logits) {
  RIGLM_RETURN_IF_ERROR(Validate(batch, cache));
  RIGLM_RETURN_IF_ERROR(ReserveCache(batch, cache));
  hidden_.resize(batch.size() * config_.embedding_length);
  Embed(batch, hidden_.data());
  RunLayers(0, config_.block_count, batch, cache, hidden_.data());
  Head(batch, hidden_.data(), logits);
  return Status::Ok();
}

void ForwardPass::Embed(const Batch& batch, float* hidden) {
  const cpu::WeightMatrix& e = model_.token_embedding();
  for (int64_t i = 0; i < batch.size(); ++i) {
    DequantizeRow(e.type, e.data + batch.tokens[i] * e.row_bytes, hidden + i * e.cols, e.cols);
  }
}

void ForwardPass::RunLayers(int64_t first_layer, int64_t end_layer, const Batch& batch, KvCache& cache,
                            float* hidden) {
  const int64_t n = batch.size();
  const int64_t embd = config_.embedding_length;
  const int64_t ffn = config_.feed_forward_length;
  normed_.resize(n * embd);
  q_.resize(n * config_.q_width());
  k_.resize(n * config_.kv_width());
  v_.resize(n * config_.kv_width());
  attn_out_.resize(n * config_.q_width());
  proj_.resize(n * embd);
  gate_.resize(n * ffn);
  up_.resize(n * ffn);
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const int rope_dims = static_cast<int>(config_.rope_dims);
  rope_angles_.resize(n * rope_dims);
  for (int64_t t = 0; t < n; ++t) {
    cpu::RopeAngles(batch.positions[t], model_.rope_inv_freq().data(), rope_dims, rope_angles_.data() + t * rope_dims);
  }

  for (int64_t layer_idx = first_layer; layer_idx < end_layer; ++layer_idx) {
    const LayerWeights& w = model_.layers()[layer_idx];
    for (int64_t t = 0; t < n; ++t) {
      cpu::RmsNorm(hidden + t * embd, w.attn_norm.data(), embd, eps, normed_.data() + t * embd);
    }
    const cpu::MatMulTask qkv[] = {{&w.attn_q, q_.data()}, {&w.attn_k, k_.data()}, {&w.attn_v, v_.data()}};
    cpu::MatMulMany(qkv, normed_.data(), n, pool_, scratch_);
    Attention(layer_idx, batch, cache);
    cpu::MatMul(w.attn_output, attn_out_.data(), n, proj_.data(), pool_, scratch_);
    for (int64_t i = 0; i < n * embd; ++i) hidden[i] += proj_[i];

    for (int64_t t = 0; t < n; ++t) {
      cpu::RmsNorm(hidden + t * embd, w.ffn_norm.data(), embd, eps, normed_.data() + t * embd);
    }
    const cpu::MatMulTask gate_up[] = {{&w.ffn_gate, gate_.data()}, {&w.ffn_up, up_.data()}};
    cpu::MatMulMany(gate_up, normed_.data(), n, pool_, scratch_);
    pool_.ParallelFor(n * ffn, 1024, [&](int64_t begin, int64_t end) {
      cpu::SwiGlu(gate_.data() + begin, up_.data() + begin, end - begin, gate_.data() + begin);
    });
    cpu::MatMul(w.ffn_down, gate_.data(), n, proj_.data(), pool_, scratch_);
    for (int64_t i = 0; i < n * embd; ++i) hidden[i] += proj_[i];
  }
}

// One token's query and key biases and rotary embedding, and its key and value into the cache.
void ForwardPass::PrepareToken(int64_t layer_idx, const Batch& batch, int64_t t, KvCache& cache) {
  const LayerWeights& w = model_.layers()[layer_idx];
  const int64_t q_width = config_.q_width();
  const int64_t kv_width = config_.kv_width();
  const int head_dim = static_cast<int>(config_.head_dim);
  const int rope_dims = static_cast<int>(config_.rope_dims);
  float* q = q_.data() + t * q_width;
  float* k = k_.data() + t * kv_width;
  float* v = v_.data() + t * kv_width;
  if (!w.bias_q.empty()) {
    for (int64_t i = 0; i < q_width; ++i) q[i] += w.bias_q[i];
    for (int64_t i = 0; i < kv_width; ++i) k[i] += w.bias_k[i];
    for (int64_t i = 0; i < kv_width; ++i) v[i] += w.bias_v[i];
  }
  const float* angles = rope_angles_.data() + t * rope_dims;
  cpu::RopeRotate(q, static_cast<int>(config_.head_count), head_dim, rope_dims, angles, config_.rope_style);
  cpu::RopeRotate(k, static_cast<int>(config_.head_count_kv), head_dim, rope_dims, angles, config_.rope_style);
  cache.Store(batch.seq_ids[t], layer_idx, batch.positions[t], k, v);
}

void ForwardPass::Attention(int64_t layer_idx, const Batch& batch, KvCache& cache) {
  const int64_t n = batch.size();
  const int64_t q_width = config_.q_width();
  const int head_dim = static_cast<int>(config_.head_dim);

  // Biases and rotary embedding, then every key and value of the batch goes into the cache
  // before any query reads it, so tokens of one prompt see each other causally.
  pool_.ParallelFor(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) PrepareToken(layer_idx, batch, t, cache);
  });

  const int64_t group = config_.head_count / config_.head_count_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // A prompt's tokens go in runs (consecutive positions of one sequence), as many as fill the
  // kernel's heads: the run reads each cached key and value once for all its tokens (prompts after
  // 4096 cached positions spent 46% of their time in attention, 14% converting the cache to float).
  // One item per run and KV head; sequences of a batch differ in length, so items are balanced
  // between threads.
  const int max_run = static_cast<int>(std::max<int64_t>(1, cpu::kAttendHeadsAtOnce / group));
  attention_runs_.clear();
  for (int64_t t = 0; t < n; ++t) {
    if (!attention_runs_.empty()) {
      AttentionRun& run = attention_runs_.back();
      if (run.tokens < max_run && batch.seq_ids[t] == batch.seq_ids[run.first] &&
          batch.positions[t] == batch.positions[run.first] + run.tokens) {
        ++run.tokens;
        continue;
      }
    }
    attention_runs_.push_back({t, 1});
  }
  const int64_t kv_heads = config_.head_count_kv;
  const int64_t items = static_cast<int64_t>(attention_runs_.size()) * kv_heads;
  pool_.ParallelForBalanced(items, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const AttentionRun& run = attention_runs_[item / kv_heads];
      const int64_t kv_head = item % kv_heads;
      const int seq = batch.seq_ids[run.first];
      const int64_t offset = run.first * q_width + kv_head * group * head_dim;
      cpu::AttendTokens(q_.data() + offset, q_width, run.tokens, static_cast<int>(group),
                        cache.keys(seq, layer_idx, kv_head), cache.values(seq, layer_idx, kv_head),
                        batch.positions[run.first] + 1, head_dim, scale, attn_out_.data() + offset);
    }
  });
}

void ForwardPass::Head(const Batch& batch, const float* hidden, std::vector<float>* logits) {
  const int64_t embd = config_.embedding_length;
  int64_t wanted = 0;
  for (uint8_t w : batch.want_logits) wanted += w;
  normed_.resize(std::max<int64_t>(wanted, 1) * embd);
  int64_t row = 0;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  for (int64_t t = 0; t < batch.size(); ++t) {
    if (!batch.want_logits[t]) continue;
    cpu::RmsNorm(hidden + t * embd, model_.output_norm().data(), embd, eps, normed_.data() + row * embd);
    ++row;
  }
  logits->resize(wanted * config_.vocab_size);
  if (wanted > 0) cpu::MatMul(model_.output(), normed_.data(), wanted, logits->data(), pool_, scratch_);
}

}  // namespace riglm
