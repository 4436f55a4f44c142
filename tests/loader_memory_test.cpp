// Bounded host memory: a synthetic GGUF of more than 8 GiB streams into a device that keeps the
// bytes off the host (it only hashes them) while the process stays under 400 MiB, and the hash
// equals that of the tensor data read straight through. Its own binary, so that the peak RSS it
// checks is this test's alone. Prints load throughput next to a plain sequential read.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "loader/gguf_header.h"
#include "loader/loader.h"
#include "loader/model_loader.h"
#include "model/config.h"
#include "model/synthetic_source.h"
#include "util/process_stats.h"
#include "util/strings.h"

namespace riglm {
namespace {

// Sum over the file's 8-byte words of word * K(word index), mod 2^64. Linear, so pieces can be
// hashed in any order and cut at any byte, and any changed, lost or misplaced word changes it.
uint64_t Key(uint64_t index) { return (index * 0x9E3779B97F4A7C15ull) | 1; }

uint64_t HashPiece(uint64_t offset, const uint8_t* data, uint64_t n) {
  uint64_t sum = 0, i = 0;
  for (; i < n && (offset + i) % 8 != 0; ++i) {
    sum += (static_cast<uint64_t>(data[i]) << (8 * ((offset + i) % 8))) * Key((offset + i) / 8);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    sum += word * Key((offset + i) / 8);
  }
  for (; i < n; ++i) sum += (static_cast<uint64_t>(data[i]) << (8 * ((offset + i) % 8))) * Key((offset + i) / 8);
  return sum;
}

class HashingSink : public TensorSink {
 public:
  explicit HashingSink(uint64_t data_offset) : data_offset_(data_offset) {}
  const std::string& name() const override { return name_; }
  Status Prepare(const GgufTensorInfo&) override { return Status::Ok(); }
  Status Write(const GgufTensorInfo& t, uint64_t offset, std::span<const uint8_t> bytes) override {
    hash_ += HashPiece(data_offset_ + t.offset_bytes + offset, bytes.data(), bytes.size());
    bytes_ += bytes.size();
    return Status::Ok();
  }
  uint64_t hash() const { return hash_; }
  uint64_t bytes() const { return bytes_; }

 private:
  std::string name_ = "hashing device";
  uint64_t data_offset_;
  uint64_t hash_ = 0, bytes_ = 0;
};


TEST(LoaderMemoryTest, EightGiBStreamWithBoundedRss) {
  auto shape = FindModelShape("llama-3.1-8b");
  ASSERT_TRUE(shape.ok());
#if defined(__SANITIZE_ADDRESS__)
  shape->layers = 4;  // the sanitizer build checks the same code on ~1.5 GiB; the release build streams > 8 GiB
#else
  shape->layers = 40;
#endif
  auto source = SyntheticSource::Create(*shape, "Q8_0");
  ASSERT_TRUE(source.ok()) << source.status().ToString();
#if !defined(__SANITIZE_ADDRESS__)
  ASSERT_GE((*source)->size(), uint64_t{8} << 30);
#endif
  auto gguf = ReadGgufHeader(**source);
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();

  HashingSink device(gguf->data_offset_bytes());
  std::vector<TensorPlacement> placements;
  uint64_t tensor_bytes = 0;
  for (const GgufTensorInfo& t : gguf->tensors()) {
    placements.push_back({&t, &device});
    tensor_bytes += t.size_bytes;
  }
  LoadOptions options;  // the defaults: 256 MiB of staging buffers
  uint64_t last_progress = 0;
  options.progress = [&](uint64_t done, uint64_t) { last_progress = done; };
  auto stats = StreamTensors(**source, *gguf, placements, options);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const uint64_t peak_rss = PeakResidentBytes();

  // The same tensor bytes read straight through, one tensor after another.
  const auto start = std::chrono::steady_clock::now();
  std::vector<uint8_t> buffer(16u << 20);
  uint64_t want = 0;
  for (const GgufTensorInfo& t : gguf->tensors()) {
    const uint64_t base = gguf->data_offset_bytes() + t.offset_bytes;
    for (uint64_t done = 0; done < t.size_bytes;) {
      const uint64_t n = std::min<uint64_t>(buffer.size(), t.size_bytes - done);
      ASSERT_TRUE((*source)->ReadAt(base + done, std::span<uint8_t>(buffer.data(), n)).ok());
      want += HashPiece(base + done, buffer.data(), n);
      done += n;
    }
  }
  const double sequential_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_EQ(device.bytes(), tensor_bytes);
  EXPECT_EQ(device.hash(), want);
  EXPECT_EQ(last_progress, stats->bytes);
  EXPECT_LE(stats->staging_bytes, options.buffer_bytes);
  EXPECT_LT(peak_rss, uint64_t{400} << 20) << "peak RSS " << FormatBytes(peak_rss);
  std::printf("[  FIGURES ] streamed %s of tensors in %.2f s (%.0f MB/s) through %s of staging buffers; "
              "peak RSS %s\n",
              FormatBytes(stats->bytes).c_str(), stats->seconds, static_cast<double>(stats->bytes) / stats->seconds / 1e6,
              FormatBytes(stats->staging_bytes).c_str(), FormatBytes(peak_rss).c_str());
  std::printf("[  FIGURES ] plain sequential read and hash of the same bytes: %.2f s (%.0f MB/s)\n", sequential_seconds,
              static_cast<double>(tensor_bytes) / sequential_seconds / 1e6);
}

// A hashing device must see a different hash when one byte of the source differs: the check
// above cannot pass by accident.
// `-m synthetic:SHAPE:TYPE`: the source of a preset shape's model, its header real and its
// weights generated as they are read; malformed or unknown names say what to write.
TEST(LoaderMemoryTest, SyntheticLocationsOpenAPresetShape) {
  ASSERT_TRUE(IsSyntheticLocation("synthetic:llama-3.1-8b:Q4_K_M"));
  ASSERT_FALSE(IsSyntheticLocation("models/synthetic.gguf"));
  auto source = OpenModelSource("synthetic:llama-3.1-8b:Q4_K_M");
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_GT((*source)->size(), uint64_t{4} << 30);
  auto gguf = ReadGgufHeader(**source);
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  auto config = ModelConfig::FromGguf(*gguf);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->block_count, 32);
  EXPECT_EQ(config->embedding_length, 4096);
  EXPECT_EQ(gguf->FindTensor("blk.0.ffn_down.weight")->type, DType::kQ6_K);  // Q4_K_M keeps some layers at Q6_K
  EXPECT_EQ(gguf->FindTensor("blk.1.ffn_up.weight")->type, DType::kQ4_K);

  EXPECT_EQ(OpenModelSource("synthetic:llama-3.1-8b").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenModelSource("synthetic:no-such-model:Q4_0").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(OpenModelSource("synthetic:llama-3.1-8b:Q9_X").ok());
}

TEST(LoaderMemoryTest, HashSeesASingleChangedByte) {
  std::vector<uint8_t> data(1000, 7);
  const uint64_t a = HashPiece(24, data.data(), data.size());
  EXPECT_EQ(a, HashPiece(24, data.data(), 301) + HashPiece(24 + 301, data.data() + 301, 699));
  data[500] = 8;
  EXPECT_NE(a, HashPiece(24, data.data(), data.size()));
  EXPECT_NE(HashPiece(24, data.data(), 8), HashPiece(32, data.data(), 8));  // same bytes elsewhere
}

}  // namespace
}  // namespace riglm
