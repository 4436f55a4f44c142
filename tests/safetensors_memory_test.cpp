// Bounded host memory for safetensors: a synthetic BF16 repository of more than 8 GiB (two
// shards generated on the fly, never on disk) is quantized to Q8_0 while it streams into a device
// that keeps the bytes off the host, and the process stays under 400 MiB. Its own binary, so that
// the peak RSS it checks is this test's alone. Prints the streaming and quantizing rate.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "loader/gguf_header.h"
#include "loader/loader.h"
#include "model/hf_model_source.h"
#include "test_support.h"
#include "util/files.h"
#include "util/process_stats.h"
#include "util/strings.h"

namespace riglm {
namespace {

using Json = nlohmann::json;

struct LlamaDims {
  int64_t layers, embd, ffn, heads, kv_heads, vocab;
};

std::vector<std::pair<std::string, std::vector<uint64_t>>> HfTensors(const LlamaDims& d, int64_t first_layer, int64_t end_layer,
                                                                     bool globals) {
  const uint64_t e = d.embd, kv = d.embd / d.heads * d.kv_heads, f = d.ffn;
  std::vector<std::pair<std::string, std::vector<uint64_t>>> out;
  if (globals) out.push_back({"model.embed_tokens.weight", {uint64_t(d.vocab), e}});
  for (int64_t l = first_layer; l < end_layer; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    out.push_back({p + "input_layernorm.weight", {e}});
    out.push_back({p + "self_attn.q_proj.weight", {e, e}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, e}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, e}});
    out.push_back({p + "self_attn.o_proj.weight", {e, e}});
    out.push_back({p + "post_attention_layernorm.weight", {e}});
    out.push_back({p + "mlp.gate_proj.weight", {f, e}});
    out.push_back({p + "mlp.up_proj.weight", {f, e}});
    out.push_back({p + "mlp.down_proj.weight", {e, f}});
  }
  if (!globals) {
    out.push_back({"model.norm.weight", {e}});
    out.push_back({"lm_head.weight", {uint64_t(d.vocab), e}});
  }
  return out;
}

// A BF16 safetensors shard that exists only as a function: small finite values, so quantizing
// them is meaningful work.
class SyntheticShard : public ByteSource {
 public:
  SyntheticShard(std::string name, const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors)
      : name_(std::move(name)) {
    Json header = Json::object();
    uint64_t offset = 0;
    for (const auto& [tensor, shape] : tensors) {
      uint64_t n = 2;
      for (uint64_t s : shape) n *= s;
      header[tensor] = {{"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
      offset += n;
    }
    std::string text = header.dump();
    text.resize((text.size() + 7) / 8 * 8, ' ');
    header_.resize(8 + text.size());
    const uint64_t len = text.size();
    std::memcpy(header_.data(), &len, 8);
    std::memcpy(header_.data() + 8, text.data(), text.size());
    size_ = header_.size() + offset;
  }
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    for (size_t i = 0; i < out.size(); ++i) {
      const uint64_t at = offset + i;
      if (at < header_.size()) {
        out[i] = header_[at];
        continue;
      }
      // Element k = (at - header) / 2: sign and mantissa from a hash, exponent around 2^-6.
      const uint64_t k = (at - header_.size()) / 2;
      uint64_t h = k * 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
      const uint16_t bf16 = static_cast<uint16_t>(((h & 1) << 15) | ((118 + ((h >> 1) & 3)) << 7) | ((h >> 3) & 0x7F));
      out[i] = static_cast<uint8_t>((at - header_.size()) % 2 == 0 ? bf16 & 0xFF : bf16 >> 8);
    }
    return Status::Ok();
  }

 private:
  std::string name_;
  std::vector<uint8_t> header_;
  uint64_t size_ = 0;
};

class CountingSink : public TensorSink {
 public:
  const std::string& name() const override { return name_; }
  Status Prepare(const GgufTensorInfo&) override { return Status::Ok(); }
  Status Write(const GgufTensorInfo&, uint64_t, std::span<const uint8_t> bytes) override {
    bytes_ += bytes.size();
    for (size_t i = 0; i < bytes.size(); i += 4096) checksum_ += bytes[i];
    return Status::Ok();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  std::string name_ = "off-host device";
  uint64_t bytes_ = 0, checksum_ = 0;
};

TEST(SafetensorsMemoryTest, EightGiBBf16RepositoryQuantizedWhileStreamingWithBoundedRss) {
#if defined(__SANITIZE_ADDRESS__)
  const LlamaDims dims{2, 2048, 8192, 16, 4, 32000};  // the same code on ~0.4 GiB under the sanitizers
#else
  const LlamaDims dims{16, 4096, 14336, 32, 8, 128256};  // Llama 3.1 8B's layers, 16 of them: 8.5 GiB of BF16
#endif
  testing::TempDir dir;
  const Json config = {{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", dims.embd}, {"intermediate_size", dims.ffn},
                       {"num_hidden_layers", dims.layers}, {"num_attention_heads", dims.heads},
                       {"num_key_value_heads", dims.kv_heads}, {"vocab_size", dims.vocab}, {"rms_norm_eps", 1e-5},
                       {"rope_theta", 500000.0}, {"max_position_embeddings", 8192}, {"tie_word_embeddings", false}};
  ASSERT_TRUE(WriteFileAtomically(dir.File("config.json"), config.dump()).ok());
  const auto first = HfTensors(dims, 0, dims.layers / 2, true), second = HfTensors(dims, dims.layers / 2, dims.layers, false);
  Json weight_map = Json::object();
  for (const auto& [name, shape] : first) weight_map[name] = "model-00001-of-00002.safetensors";
  for (const auto& [name, shape] : second) weight_map[name] = "model-00002-of-00002.safetensors";
  ASSERT_TRUE(WriteFileAtomically(dir.File("model.safetensors.index.json"), Json{{"weight_map", weight_map}}.dump()).ok());

  uint64_t source_bytes = 0;
  HfModelOptions options;
  options.quant = "q8_0";
  options.open_shard = [&](const std::string& file) -> Result<std::unique_ptr<ByteSource>> {
    auto shard = std::make_unique<SyntheticShard>(file, file.find("00001") != std::string::npos ? first : second);
    source_bytes += shard->size();
    return std::unique_ptr<ByteSource>(std::move(shard));
  };
  auto source = OpenHfModel(dir.path(), options);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
#if !defined(__SANITIZE_ADDRESS__)
  ASSERT_GE(source_bytes, uint64_t{8} << 30);
#endif
  auto gguf = ReadGgufHeader(**source);
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  uint64_t elements = 0;
  for (const GgufTensorInfo& t : gguf->tensors()) {
    EXPECT_EQ(t.type, t.dims.size() == 1 ? DType::kF32 : DType::kQ8_0) << t.name;
    elements += t.num_elements;
  }

  CountingSink device;
  std::vector<TensorPlacement> placements;
  uint64_t tensor_bytes = 0;
  for (const GgufTensorInfo& t : gguf->tensors()) {
    placements.push_back({&t, &device});
    tensor_bytes += t.size_bytes;
  }
  LoadOptions load;  // the defaults: 256 MiB of staging buffers, 2 readers (each converting)
  auto stats = StreamTensors(**source, *gguf, placements, load);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const uint64_t peak_rss = PeakResidentBytes();
  EXPECT_EQ(device.bytes(), tensor_bytes);
  EXPECT_LT(tensor_bytes, elements * 2 * 9 / 16);  // Q8_0: 34 bytes per 32 BF16 elements (64 bytes)
  EXPECT_LT(peak_rss, uint64_t{400} << 20) << "peak RSS " << FormatBytes(peak_rss);
  std::printf("[  FIGURES ] %s of BF16 safetensors quantized to %s of Q8_0 while streaming in %.1f s "
              "(%.0f MB/s of source); peak RSS %s\n",
              FormatBytes(source_bytes).c_str(), FormatBytes(tensor_bytes).c_str(), stats->seconds,
              static_cast<double>(source_bytes) / stats->seconds / 1e6, FormatBytes(peak_rss).c_str());
}

}  // namespace
}  // namespace riglm
