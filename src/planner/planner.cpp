#include "planner/planner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "util/strings.h"

namespace riglm {

uint64_t ModelCost::weight_bytes() const {
  uint64_t total = embedding_bytes + output_bytes;
  for (uint64_t b : layer_bytes) total += b;
  return total;
}

ModelCost ModelCostFromGguf(const GgufFile& gguf, const ModelConfig& config, KvCacheTypes kv_types) {
  ModelCost m;
  m.name = gguf.name();
  m.layers = config.block_count;
  m.embedding = config.embedding_length;
  m.ffn = config.feed_forward_length;
  m.q_width = config.q_width();
  m.kv_width = config.kv_width();
  m.vocab = config.vocab_size;
  m.layer_bytes.assign(m.layers, 0);
  m.tied_output = gguf.FindTensor("output.weight") == nullptr;
  for (const GgufTensorInfo& t : gguf.tensors()) {
    m.parameters += t.num_elements;
    if (StartsWith(t.name, "blk.")) {
      const int64_t layer = std::atoll(t.name.c_str() + 4);
      if (layer >= 0 && layer < m.layers) m.layer_bytes[layer] += t.size_bytes;
    } else if (t.name == "token_embd.weight") {
      m.embedding_bytes += t.size_bytes;
    } else {
      m.output_bytes += t.size_bytes;
    }
  }
  m.kv_bytes_per_position_per_layer = KvCache::BytesPerPosition(config, kv_types);
  return m;
}

namespace {

constexpr double kHopLatencySeconds = 20e-6;  // a PCIe transfer plus the launch that follows it

uint64_t LayerCost(const ModelCost& m, const PlanOptions& o, int64_t layer) {
  return m.layer_bytes[layer] + m.kv_bytes_per_position_per_layer * static_cast<uint64_t>(o.context) * o.parallel;
}

uint64_t ScratchBytes(const ModelCost& m, const PlanOptions& o, bool last) {
  const uint64_t per_token = 4 * (4 * m.embedding + 2 * m.ffn + m.q_width + 2 * m.kv_width);
  return per_token * o.batch + (last ? uint64_t{4} * m.vocab * std::max<int64_t>(o.parallel, 1) : 0);
}

// Memory every device of `order` needs besides its layers: scratch, and the embedding and the
// output head on the first and last stage (both on the last when they are one tied tensor).
void PlaceFixed(const ModelCost& m, const PlanOptions& o, const std::vector<int>& order, std::vector<DevicePlan>* plans) {
  for (int k : order) {
    DevicePlan& p = (*plans)[k];
    p.has_embedding = p.has_output = false;
    p.weight_bytes = p.kv_bytes = 0;
    p.scratch_bytes = ScratchBytes(m, o, k == order.back());
    p.first_layer = p.end_layer = -1;
  }
  DevicePlan& first = (*plans)[order.front()];
  DevicePlan& last = (*plans)[order.back()];
  if (m.tied_output) {
    last.has_embedding = true;
    last.weight_bytes += m.embedding_bytes;
  } else {
    first.has_embedding = true;
    first.weight_bytes += m.embedding_bytes;
  }
  last.has_output = true;
  last.weight_bytes += m.output_bytes;
}

// Fills the devices of `order` in turn, each up to fraction[k] of its usable memory. True when
// every layer found a place.
bool Assign(const ModelCost& m, const PlanOptions& o, const std::vector<int>& order, const std::vector<double>& fraction,
            std::vector<DevicePlan>* plans) {
  PlaceFixed(m, o, order, plans);
  int64_t layer = 0;
  for (int k : order) {
    DevicePlan& p = (*plans)[k];
    const double budget = fraction[k] * static_cast<double>(p.device.usable_bytes());
    double used = static_cast<double>(p.weight_bytes + p.scratch_bytes);
    if (used > budget) return false;
    const int64_t first = layer;
    while (layer < m.layers && used + static_cast<double>(LayerCost(m, o, layer)) <= budget) {
      used += static_cast<double>(LayerCost(m, o, layer));
      ++layer;
    }
    if (layer > first) {
      p.first_layer = first;
      p.end_layer = layer;
    }
  }
  return layer == m.layers;
}

void Finish(const ModelCost& m, const PlanOptions& o, Plan* plan) {
  double seconds = 0.0, load = 0.0;
  uint64_t link_total = 0;
  DevicePlan* previous = nullptr;
  for (DevicePlan& p : plan->devices) {
    for (int64_t l = std::max<int64_t>(p.first_layer, 0); l < p.end_layer; ++l) {
      p.weight_bytes += m.layer_bytes[l];
      p.kv_bytes += m.kv_bytes_per_position_per_layer * static_cast<uint64_t>(o.context) * o.parallel;
    }
    p.total_bytes = p.weight_bytes + p.kv_bytes + p.scratch_bytes;
    if (p.num_layers() == 0 && !p.has_output && !p.has_embedding) continue;
    // Decoding one token reads the device's weights once and, on average, half its cache of one sequence.
    const double kv_read = static_cast<double>(p.num_layers()) * static_cast<double>(m.kv_bytes_per_position_per_layer) *
                           static_cast<double>(o.context) / 2;
    seconds += (static_cast<double>(p.weight_bytes - (p.has_embedding ? m.embedding_bytes : 0)) + kv_read) /
               p.device.memory_bytes_per_s;
    const bool on_bus = p.device.kind != DeviceKind::kCpu;
    if (previous != nullptr) {
      const uint64_t hop = 4 * static_cast<uint64_t>(m.embedding);
      double link = std::numeric_limits<double>::infinity();
      for (const DevicePlan* d : {previous, &p}) {
        if (d->device.kind != DeviceKind::kCpu) link = std::min(link, d->device.link.bytes_per_s());
      }
      if (std::isfinite(link)) seconds += static_cast<double>(hop) / link + kHopLatencySeconds;
      if (on_bus) p.link_bytes_per_token += hop;
      if (previous->device.kind != DeviceKind::kCpu) previous->link_bytes_per_token += hop;
    }
    if (p.has_output && on_bus) {
      const uint64_t logits = 4 * static_cast<uint64_t>(m.vocab);
      p.link_bytes_per_token += logits;
      seconds += static_cast<double>(logits) / p.device.link.bytes_per_s() + kHopLatencySeconds;
    }
    if (on_bus) load = std::max(load, static_cast<double>(p.weight_bytes) / p.device.link.bytes_per_s());
    previous = &p;
  }
  for (const DevicePlan& p : plan->devices) link_total += p.link_bytes_per_token;
  plan->predicted_tokens_per_s = seconds > 0 ? 1.0 / seconds : 0.0;
  plan->predicted_load_seconds = load;
  plan->link_bytes_per_token = link_total;
  plan->fits = true;
  for (const DevicePlan& p : plan->devices) plan->fits = plan->fits && p.total_bytes <= p.device.usable_bytes();
}

// The automatic split: GPUs (and simulated ones) at an even fraction of their memory; CPU devices
// only take what the GPUs cannot hold, as the first stages, so that the output head stays on a GPU.
Plan AutoPlan(const ModelCost& m, const std::vector<DeviceInfo>& devices, const PlanOptions& o) {
  Plan plan;
  plan.options = o;
  for (const DeviceInfo& d : devices) plan.devices.push_back({d});
  std::vector<int> gpus, cpus;
  for (size_t i = 0; i < devices.size(); ++i) (devices[i].kind == DeviceKind::kCpu ? cpus : gpus).push_back(static_cast<int>(i));
  std::vector<double> fraction(devices.size(), 1.0);
  auto search = [&](const std::vector<int>& order, const std::vector<int>& searched) {
    if (!Assign(m, o, order, fraction, &plan.devices)) return false;
    double lo = 0.0, hi = 1.0;
    for (int iter = 0; iter < 40; ++iter) {
      const double mid = (lo + hi) / 2;
      for (int k : searched) fraction[k] = mid;
      (Assign(m, o, order, fraction, &plan.devices) ? hi : lo) = mid;
    }
    for (int k : searched) fraction[k] = hi;
    return Assign(m, o, order, fraction, &plan.devices);
  };
  bool placed = false;
  if (!gpus.empty()) placed = search(gpus, gpus);
  if (!placed && !cpus.empty()) {
    std::vector<int> order = cpus;
    order.insert(order.end(), gpus.begin(), gpus.end());
    for (int k : gpus) fraction[k] = 1.0;
    placed = search(order, cpus);
  }
  if (!placed) {
    plan.fits = false;
    for (DevicePlan& p : plan.devices) p = DevicePlan{p.device};  // no partial assignment to show
    return plan;
  }
  Finish(m, o, &plan);
  return plan;
}

Plan ManualPlan(const ModelCost& m, const std::vector<DeviceInfo>& devices, const PlanOptions& o) {
  Plan plan;
  plan.options = o;
  for (const DeviceInfo& d : devices) plan.devices.push_back({d});
  if (o.tensor_split.size() != devices.size()) {
    plan.message = "the manual split has " + std::to_string(o.tensor_split.size()) + " entries for " +
                   std::to_string(devices.size()) + " devices";
    return plan;
  }
  double total = 0.0;
  for (double v : o.tensor_split) {
    if (!(v >= 0) || !std::isfinite(v)) {
      plan.message = "the manual split must be non-negative numbers";
      return plan;
    }
    total += v;
  }
  if (total <= 0) {
    plan.message = "the manual split gives no device any layers";
    return plan;
  }
  std::vector<int> order;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (o.tensor_split[i] > 0) order.push_back(static_cast<int>(i));
  }
  PlaceFixed(m, o, order, &plan.devices);
  double cumulative = 0.0;
  int64_t layer = 0;
  for (int k : order) {
    cumulative += o.tensor_split[k];
    const int64_t end = k == order.back() ? m.layers : std::llround(m.layers * cumulative / total);
    if (end > layer) {
      plan.devices[k].first_layer = layer;
      plan.devices[k].end_layer = end;
    }
    layer = std::max(layer, end);
  }
  Finish(m, o, &plan);
  if (!plan.fits) {
    for (const DevicePlan& p : plan.devices) {
      if (p.total_bytes > p.device.usable_bytes()) {
        plan.message = "the manual split does not fit: " + p.device.name + " would need " + FormatBytes(p.total_bytes) +
                       " (" + std::to_string(p.num_layers()) + " layers) and has " +
                       FormatBytes(p.device.usable_bytes()) + " usable; give it a smaller share";
        break;
      }
    }
  } else {
    plan.message = "manual split honoured";
  }
  return plan;
}

ModelCost Requantized(const ModelCost& m, double ratio) {
  ModelCost r = m;
  for (uint64_t& b : r.layer_bytes) b = static_cast<uint64_t>(static_cast<double>(b) * ratio);
  r.embedding_bytes = static_cast<uint64_t>(static_cast<double>(r.embedding_bytes) * ratio);
  r.output_bytes = static_cast<uint64_t>(static_cast<double>(r.output_bytes) * ratio);
  return r;
}

std::string WhatWouldFit(const ModelCost& m, const std::vector<DeviceInfo>& devices, const PlanOptions& o) {
  std::vector<std::string> options;
  // A shorter context.
  int64_t lo = 0, hi = o.context;
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    PlanOptions shorter = o;
    shorter.context = mid;
    (AutoPlan(m, devices, shorter).fits ? lo : hi) = mid;
  }
  if (lo >= 256) options.push_back("a context of " + std::to_string(lo / 256 * 256) + " tokens (--ctx " + std::to_string(lo / 256 * 256) + ")");
  // Fewer parallel sequences.
  for (int p = o.parallel - 1; p >= 1; --p) {
    PlanOptions fewer = o;
    fewer.parallel = p;
    if (AutoPlan(m, devices, fewer).fits) {
      options.push_back(std::to_string(p) + " parallel sequence" + (p > 1 ? "s" : "") + " (--parallel " + std::to_string(p) + ")");
      break;
    }
  }
  // A smaller quantization (bits per weight of llama.cpp's recipes, roughly).
  const double bpw = static_cast<double>(m.weight_bytes()) * 8 / std::max<double>(1, static_cast<double>(m.parameters));
  static const std::pair<const char*, double> kRecipes[] = {{"Q6_K", 6.6}, {"Q5_K_M", 5.7}, {"Q4_K_M", 4.9}, {"Q3_K_M", 3.9}, {"Q2_K", 3.0}};
  for (const auto& [name, bits] : kRecipes) {
    if (bits > bpw - 0.3) continue;
    if (AutoPlan(Requantized(m, bits / bpw), devices, o).fits) {
      options.push_back("a smaller quantization such as " + std::string(name) + " (about " +
                        FormatBytes(static_cast<uint64_t>(static_cast<double>(m.parameters) * bits / 8)) + ")");
      break;
    }
  }
  // More devices like the largest GPU.
  const DeviceInfo* largest = nullptr;
  for (const DeviceInfo& d : devices) {
    if (d.kind != DeviceKind::kCpu && (largest == nullptr || d.usable_bytes() > largest->usable_bytes())) largest = &d;
  }
  if (largest != nullptr) {
    std::vector<DeviceInfo> more = devices;
    for (int extra = 1; extra <= 16; ++extra) {
      more.push_back(*largest);
      more.back().name = "extra" + std::to_string(extra);
      if (AutoPlan(m, more, o).fits) {
        options.push_back(std::to_string(extra) + " more device" + (extra > 1 ? "s" : "") + " like " + largest->name +
                          " (" + FormatBytes(largest->total_bytes) + ")");
        break;
      }
    }
  }
  if (options.empty()) return "nothing simple would make it fit on these devices";
  std::string out = "it would fit with ";
  for (size_t i = 0; i < options.size(); ++i) out += (i == 0 ? "" : i + 1 == options.size() ? ", or " : ", ") + options[i];
  return out;
}

}  // namespace

Plan MakePlan(const ModelCost& m, const std::vector<DeviceInfo>& devices, const PlanOptions& o) {
  Plan refused;
  refused.options = o;
  if (devices.empty()) refused.message = "no devices to plan for";
  if (o.context < 1 || o.parallel < 1) refused.message = "the context and the number of parallel sequences must be at least 1";
  if (!refused.message.empty()) return refused;
  if (!o.tensor_split.empty()) return ManualPlan(m, devices, o);
  Plan plan = AutoPlan(m, devices, o);
  if (plan.fits) {
    plan.message = "fits";
    return plan;
  }
  uint64_t usable = 0;
  for (const DeviceInfo& d : devices) usable += d.usable_bytes();
  const uint64_t kv = m.kv_bytes_per_position_per_layer * static_cast<uint64_t>(o.context) * o.parallel * m.layers;
  plan.message = "does not fit: the model needs " + FormatBytes(m.weight_bytes()) + " of weights and " + FormatBytes(kv) +
                 " of KV cache (" + std::to_string(o.context) + " tokens x " + std::to_string(o.parallel) +
                 " sequences), plus scratch buffers, and the devices have " + FormatBytes(usable) + " usable; " +
                 WhatWouldFit(m, devices, o);
  return plan;
}

std::string FormatPlan(const ModelCost& m, const Plan& plan) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "model: %s, %lld layers, %s of weights; context %lld x %d sequences\n\n",
                m.name.c_str(), static_cast<long long>(m.layers), FormatBytes(m.weight_bytes()).c_str(),
                static_cast<long long>(plan.options.context), plan.options.parallel);
  out += line;
  out += "| device | link | layers | weights | KV cache | scratch | total | usable | use |\n";
  out += "| ------ | ---- | -----: | ------: | -------: | ------: | ----: | -----: | --: |\n";
  for (const DevicePlan& p : plan.devices) {
    std::string layers = p.num_layers() > 0 ? std::to_string(p.first_layer) + "-" + std::to_string(p.end_layer - 1) : "-";
    if (p.has_embedding) layers += " +embd";
    if (p.has_output) layers += " +out";
    const double use = p.device.usable_bytes() ? 100.0 * static_cast<double>(p.total_bytes) / static_cast<double>(p.device.usable_bytes()) : 0;
    std::snprintf(line, sizeof line, "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f%% |\n", p.device.name.c_str(),
                  p.device.link.ToString().c_str(), layers.c_str(), FormatBytes(p.weight_bytes).c_str(),
                  FormatBytes(p.kv_bytes).c_str(), FormatBytes(p.scratch_bytes).c_str(), FormatBytes(p.total_bytes).c_str(),
                  FormatBytes(p.device.usable_bytes()).c_str(), use);
    out += line;
  }
  out += "\n";
  if (plan.fits) {
    std::snprintf(line, sizeof line,
                  "predicted generation: %.1f tokens/s for one stream (memory bandwidth of each device)\n"
                  "bytes over PCIe per token: %s; loading at link speed: %.1f s\n",
                  plan.predicted_tokens_per_s, FormatBytes(plan.link_bytes_per_token).c_str(), plan.predicted_load_seconds);
    out += line;
  }
  out += plan.message + "\n";
  return out;
}

nlohmann::ordered_json PlanToJson(const Plan& plan) {
  nlohmann::ordered_json j;
  j["fits"] = plan.fits;
  j["message"] = plan.message;
  j["predicted_tokens_per_s"] = plan.predicted_tokens_per_s;
  j["predicted_load_seconds"] = plan.predicted_load_seconds;
  j["link_bytes_per_token"] = plan.link_bytes_per_token;
  j["context"] = plan.options.context;
  j["parallel"] = plan.options.parallel;
  j["devices"] = nlohmann::ordered_json::array();
  for (const DevicePlan& p : plan.devices) {
    j["devices"].push_back({{"device", p.device.name},
                            {"kind", std::string(DeviceKindName(p.device.kind))},
                            {"link", p.device.link.ToString()},
                            {"first_layer", p.first_layer},
                            {"last_layer", p.num_layers() > 0 ? p.end_layer - 1 : -1},
                            {"has_embedding", p.has_embedding},
                            {"has_output", p.has_output},
                            {"weight_bytes", p.weight_bytes},
                            {"kv_bytes", p.kv_bytes},
                            {"scratch_bytes", p.scratch_bytes},
                            {"total_bytes", p.total_bytes},
                            {"capacity_bytes", p.device.usable_bytes()},
                            {"link_bytes_per_token", p.link_bytes_per_token}});
  }
  return j;
}

}  // namespace riglm
