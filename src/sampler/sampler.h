// logits -> next token: repetition penalties, top-k, top-p, min-p, temperature, seeded draw.
// The stages run in llama.cpp's default order so that the same settings mean the same thing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace riglm {

struct SamplingParams {
  float temperature = 0.8f;   // <= 0: greedy
  int32_t top_k = 40;         // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off; divides positive logits of recent tokens
  int32_t repeat_last_n = 64;   // how many recent tokens the penalties look at; -1: all
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0xFFFFFFFF;   // same seed, same settings, same logits: same tokens

  // InvalidArgument naming the parameter when a value is out of range.
  Status Validate() const;
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, int32_t vocab_size);

  // Picks a token from one row of `vocab_size` logits.
  int32_t Sample(const float* logits);
  // Records a token of the context (prompt or generated) for the penalties.
  void Accept(int32_t token);
  void Reset();

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };
  void ApplyPenalties();
  int32_t SampleAll();  // no cut-offs: temperature over the whole vocabulary
  int32_t Draw(float max_logit);
  double NextUniform();  // [0, 1)

  SamplingParams params_;
  int32_t vocab_size_;
  uint64_t rng_state_;
  // The last repeat_last_n tokens, in no particular order (the penalties only count them):
  // once full, each new token overwrites the oldest, at next_recent_.
  std::vector<int32_t> recent_;
  size_t next_recent_ = 0;
  std::vector<int32_t> sorted_recent_;  // reused by ApplyPenalties, so sampling allocates nothing
  std::vector<Candidate> candidates_;
  std::vector<float> probs_;
};

}  // namespace riglm
