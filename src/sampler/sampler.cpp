#include "sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace riglm {

Status SamplingParams::Validate() const {
  auto bad = [](const std::string& name, const std::string& why) { return InvalidArgument(name + " " + why); };
  if (!std::isfinite(temperature) || temperature < 0.0f) return bad("temperature", "must be a finite number >= 0");
  if (!std::isfinite(top_p) || top_p <= 0.0f || top_p > 1.0f) return bad("top_p", "must be in (0, 1]");
  if (!std::isfinite(min_p) || min_p < 0.0f || min_p > 1.0f) return bad("min_p", "must be in [0, 1]");
  if (!std::isfinite(repeat_penalty) || repeat_penalty <= 0.0f) return bad("repeat_penalty", "must be > 0");
  if (repeat_last_n < -1) return bad("repeat_last_n", "must be >= -1");
  if (!std::isfinite(presence_penalty) || std::fabs(presence_penalty) > 2.0f) {
    return bad("presence_penalty", "must be in [-2, 2]");
  }
  if (!std::isfinite(frequency_penalty) || std::fabs(frequency_penalty) > 2.0f) {
    return bad("frequency_penalty", "must be in [-2, 2]");
  }
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params, int32_t vocab_size)
    : params_(params), vocab_size_(vocab_size), rng_state_(params.seed) {}

void Sampler::Reset() {
  recent_.clear();
  rng_state_ = params_.seed;
}

void Sampler::Accept(int32_t token) {
  recent_.push_back(token);
  if (params_.repeat_last_n >= 0) {
    while (static_cast<int32_t>(recent_.size()) > params_.repeat_last_n) recent_.pop_front();
  }
}

double Sampler::NextUniform() {
  // splitmix64: small, fast, and the same sequence on every platform and standard library.
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

void Sampler::ApplyPenalties() {
  const bool repeat = params_.repeat_penalty != 1.0f;
  const bool additive = params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f;
  if ((!repeat && !additive) || recent_.empty() || params_.repeat_last_n == 0) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : recent_) ++counts[t];
  for (Candidate& c : candidates_) {
    auto it = counts.find(c.id);
    if (it == counts.end()) continue;
    if (repeat) c.logit = c.logit > 0 ? c.logit / params_.repeat_penalty : c.logit * params_.repeat_penalty;
    c.logit -= static_cast<float>(it->second) * params_.frequency_penalty + params_.presence_penalty;
  }
}

int32_t Sampler::Sample(const float* logits) {
  candidates_.resize(vocab_size_);
  for (int32_t i = 0; i < vocab_size_; ++i) candidates_[i] = {i, logits[i]};
  ApplyPenalties();
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };

  if (params_.temperature <= 0.0f) {
    return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->id;
  }

  size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) keep = params_.top_k;
  std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), by_logit);
  candidates_.resize(keep);

  // Probabilities at temperature 1 decide the top-p and min-p cut-offs, as in llama.cpp.
  auto softmax = [&](float temperature) {
    probs_.resize(candidates_.size());
    const float max = candidates_.front().logit;
    double sum = 0.0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      probs_[i] = std::exp((candidates_[i].logit - max) / temperature);
      sum += probs_[i];
    }
    for (float& p : probs_) p = static_cast<float>(p / sum);
  };
  softmax(1.0f);
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t n = 0;
    while (n < candidates_.size()) {
      cumulative += probs_[n++];
      if (cumulative >= params_.top_p) break;
    }
    candidates_.resize(std::max<size_t>(n, 1));
    probs_.resize(candidates_.size());
  }
  if (params_.min_p > 0.0f) {
    const float threshold = probs_.front() * params_.min_p;
    size_t n = 1;
    while (n < candidates_.size() && probs_[n] >= threshold) ++n;
    candidates_.resize(n);
  }

  softmax(params_.temperature);
  const double r = NextUniform();
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += probs_[i];
    if (r < cumulative) return candidates_[i].id;
  }
  return candidates_.back().id;
}

}  // namespace riglm
