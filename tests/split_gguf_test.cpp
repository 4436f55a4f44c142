// Split GGUF models (gguf-split's "-0000N-of-0000M.gguf" parts) load as one model.
#include <gtest/gtest.h>

#include <filesystem>

#include "format/gguf_writer.h"
#include "loader/model_loader.h"
#include "loader/split_gguf.h"
#include "test_support.h"

namespace riglm {
namespace {

// Writes stories260K as `parts` files the way gguf-split does: metadata in the first part,
// split.* keys in every part, the tensors spread over them.
void SplitStories(const std::string& prefix, int parts, bool with_split_keys = true) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  const GgufFile& gguf = (*model)->gguf();
  const std::string bytes = testing::ReadFileBytes(testing::Stories260KPath());
  std::vector<GgufWriter> writers(parts);
  for (const auto& [key, value] : gguf.metadata()) {
    if (key != "general.alignment") writers[0].Set(key, value);
  }
  for (int i = 0; i < parts && with_split_keys; ++i) {
    writers[i].Set("split.no", {GgufType::kUint16, uint64_t(i)});
    writers[i].Set("split.count", {GgufType::kUint16, uint64_t(parts)});
    writers[i].Set("split.tensors.count", {GgufType::kInt32, int64_t(gguf.tensors().size())});
  }
  size_t index = 0;
  for (const GgufTensorInfo& t : gguf.tensors()) {
    const uint8_t* data = reinterpret_cast<const uint8_t*>(bytes.data()) + gguf.data_offset_bytes() + t.offset_bytes;
    writers[index++ * parts / gguf.tensors().size()].AddTensor(t.name, t.type, t.dims, std::vector<uint8_t>(data, data + t.size_bytes));
  }
  for (int i = 0; i < parts; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", i + 1, parts);
    ASSERT_TRUE(writers[i].WriteFile(prefix + suffix).ok());
  }
}

TEST(SplitGgufTest, PartsLoadAsTheWholeModel) {
  testing::TempDir dir;
  SplitStories(dir.File("stories"), 3);
  std::string prefix;
  int count = 0;
  ASSERT_TRUE(IsSplitGgufPath(dir.File("stories-00001-of-00003.gguf"), &prefix, &count));
  EXPECT_EQ(prefix, dir.File("stories"));
  EXPECT_EQ(count, 3);
  EXPECT_FALSE(IsSplitGgufPath(testing::Stories260KPath()));

  auto whole = LlamaModel::Load(testing::Stories260KPath());
  auto split = LoadModelFrom(dir.File("stories-00001-of-00003.gguf"));
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ((*split)->parameter_count(), (*whole)->parameter_count());
  EXPECT_EQ(testing::GreedyText(**split, "Once upon a time", 32), testing::GreedyText(**whole, "Once upon a time", 32));
}

TEST(SplitGgufTest, MissingOrMismatchedPartsAreNamed) {
  testing::TempDir dir;
  SplitStories(dir.File("stories"), 3);
  std::filesystem::remove(dir.File("stories-00002-of-00003.gguf"));
  auto missing = LoadModelFrom(dir.File("stories-00001-of-00003.gguf"));
  ASSERT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("part 2 of 3"), std::string::npos) << missing.status().ToString();

  // Parts of a 2-way split renamed as if they were a 3-way one.
  SplitStories(dir.File("other"), 2);
  std::filesystem::rename(dir.File("other-00002-of-00002.gguf"), dir.File("stories-00002-of-00003.gguf"));
  auto mismatched = LoadModelFrom(dir.File("stories-00001-of-00003.gguf"));
  ASSERT_EQ(mismatched.status().code(), StatusCode::kCorruption);
  EXPECT_NE(mismatched.status().message().find("says the model has 2 parts"), std::string::npos) << mismatched.status().ToString();
}

}  // namespace
}  // namespace riglm
