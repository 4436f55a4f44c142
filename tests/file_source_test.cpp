// Local file sources: exact bytes for any range, with and without O_DIRECT; a file that changes
// or shrinks while loading is an error, not a model built from mixed bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "io/byte_source.h"
#include "test_support.h"

namespace riglm {
namespace {

std::string SomeBytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

TEST(FileSourceTest, RangesMatchTheFileWithAndWithoutDirectIo) {
  testing::TempDir dir;
  const std::string path = dir.File("data.bin");
  const std::string content = SomeBytes(3 * 1000 * 1000 + 17);
  std::ofstream(path, std::ios::binary) << content;
  for (bool direct : {false, true}) {
    SourceOptions options;
    options.direct_io = direct;
    auto source = OpenFileSource(path, options);
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    EXPECT_EQ((*source)->size(), content.size());
    for (auto [offset, size] : std::vector<std::pair<uint64_t, uint64_t>>{
             {0, 10}, {1, 4095}, {4095, 2}, {12345, 1 << 20}, {content.size() - 100, 100}, {0, content.size()}}) {
      std::vector<uint8_t> got(size);
      ASSERT_TRUE((*source)->ReadAt(offset, got).ok()) << offset << "+" << size << " direct " << direct;
      EXPECT_EQ(std::memcmp(got.data(), content.data() + offset, size), 0) << offset << "+" << size << " direct " << direct;
    }
    std::vector<uint8_t> past(10);
    EXPECT_FALSE((*source)->ReadAt(content.size() - 5, past).ok());
  }
}

TEST(FileSourceTest, ChangedOrMissingFilesAreErrors) {
  testing::TempDir dir;
  const std::string path = dir.File("model.gguf");
  std::ofstream(path, std::ios::binary) << SomeBytes(100000);
  auto source = OpenFileSource(path);
  ASSERT_TRUE(source.ok());
  std::ofstream(path, std::ios::binary | std::ios::app) << "more";
  std::vector<uint8_t> got(1000);
  const Status s = (*source)->ReadAt(0, got);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("changed while it was being loaded"), std::string::npos) << s.ToString();

  auto missing = OpenFileSource(dir.File("nothing.gguf"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto directory = OpenFileSource(dir.path());
  EXPECT_FALSE(directory.ok());
}

}  // namespace
}  // namespace riglm
