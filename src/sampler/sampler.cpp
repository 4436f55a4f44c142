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
    : params_(params), vocab_size_(vocab_size), rng_state_(params.seed) {
  // Sized once, so that generating allocates nothing. A window past any context is capped: it
  // only fills as far as the context does.
  const auto window = static_cast<size_t>(std::clamp(params.repeat_last_n, 0, 1 << 16));
  recent_.reserve(window);
  sorted_recent_.reserve(window);
  candidates_.reserve(static_cast<size_t>(std::max(vocab_size, 0)));
  probs_.reserve(candidates_.capacity());
}

void Sampler::Reset() {
  recent_.clear();
  next_recent_ = 0;
  rng_state_ = params_.seed;
}

void Sampler::Accept(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  if (params_.repeat_last_n < 0 || recent_.size() < static_cast<size_t>(params_.repeat_last_n)) {
    recent_.push_back(token);
    return;
  }
  recent_[next_recent_] = token;
  next_recent_ = (next_recent_ + 1) % recent_.size();
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
  // Candidates are still in id order here. Each distinct recent token is penalized once, by how
  // often it occurs: runs of the sorted copy, not a pass over the whole vocabulary.
  sorted_recent_.assign(recent_.begin(), recent_.end());
  std::sort(sorted_recent_.begin(), sorted_recent_.end());
  for (size_t i = 0; i < sorted_recent_.size();) {
    const int32_t token = sorted_recent_[i];
    size_t end = i + 1;
    while (end < sorted_recent_.size() && sorted_recent_[end] == token) ++end;
    const auto count = static_cast<float>(end - i);
    i = end;
    if (token < 0 || token >= vocab_size_) continue;
    float& logit = candidates_[token].logit;
    if (repeat) logit = logit > 0 ? logit / params_.repeat_penalty : logit * params_.repeat_penalty;
    logit -= count * params_.frequency_penalty + params_.presence_penalty;
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

  const bool cut_k = params_.top_k > 0 && static_cast<size_t>(params_.top_k) < candidates_.size();
  const bool cut_p = params_.top_p < 1.0f;
  const bool cut_min = params_.min_p > 0.0f;
  if (!cut_k && !cut_p && !cut_min) return SampleAll();

  // Probabilities at temperature 1 decide the top-p and min-p cut-offs, as in llama.cpp; over
  // the top-k when there is one, else over the whole vocabulary.
  float max_logit = candidates_.front().logit;
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);
  if (cut_k) {
    std::partial_sort(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(), by_logit);
    candidates_.resize(params_.top_k);
  } else if (cut_min) {
    // Everything below max * min_p goes whatever top-p says: drop it before sorting.
    const float floor = max_logit + std::log(params_.min_p);
    candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(), [&](const Candidate& c) { return c.logit < floor; }),
                      candidates_.end());
  }
  double total = 0.0;
  for (const Candidate& c : candidates_) total += std::exp(static_cast<double>(c.logit - max_logit));
  if (cut_min && cut_k) {
    const float floor = max_logit + std::log(params_.min_p);
    candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(), [&](const Candidate& c) { return c.logit < floor; }),
                      candidates_.end());
  }
  if (cut_p) {
    // The nucleus is usually small: sort a growing prefix until it holds top_p of the mass.
    for (size_t sorted = 64;; sorted *= 4) {
      sorted = std::min(sorted, candidates_.size());
      std::partial_sort(candidates_.begin(), candidates_.begin() + sorted, candidates_.end(), by_logit);
      double cumulative = 0.0;
      size_t n = 0;
      while (n < sorted && cumulative < params_.top_p) {
        cumulative += std::exp(static_cast<double>(candidates_[n++].logit - max_logit)) / total;
      }
      if (cumulative >= params_.top_p || sorted == candidates_.size()) {
        candidates_.resize(std::max<size_t>(n, 1));
        break;
      }
    }
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }

  return Draw(max_logit);
}

// One draw from the candidates' softmax at the temperature, in their current order.
int32_t Sampler::Draw(float max_logit) {
  probs_.resize(candidates_.size());
  double sum = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    probs_[i] = std::exp((candidates_[i].logit - max_logit) / params_.temperature);
    sum += probs_[i];
  }
  const double r = NextUniform() * sum;
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += probs_[i];
    if (r < cumulative) return candidates_[i].id;
  }
  return candidates_.back().id;
}

// Plain temperature sampling over the whole vocabulary, in id order: no sort needed.
int32_t Sampler::SampleAll() {
  float max_logit = candidates_.front().logit;
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);
  return Draw(max_logit);
}

}  // namespace riglm
