#include "format/gguf.h"

#include <gtest/gtest.h>

#include <cstring>

#include "format/gguf_writer.h"
#include "io/mapped_file.h"
#include "test_support.h"

namespace riglm {
namespace {

using testing::Stories260KPath;

TEST(GgufTest, ReadsStories260K) {
  auto file = MappedFile::Open(Stories260KPath());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto gguf = GgufFile::Parse(file->bytes(), file->size(), "stories260K.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  EXPECT_EQ(*gguf->GetString("general.architecture"), "llama");
  EXPECT_EQ(*gguf->GetUint("llama.embedding_length"), 64u);
  EXPECT_EQ(*gguf->GetUint("llama.block_count"), 5u);
  EXPECT_EQ((*gguf->GetArray("tokenizer.ggml.tokens"))->items.size(), 512u);
  const GgufTensorInfo* embd = gguf->FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, DType::kF32);
  EXPECT_EQ(embd->dims, (std::vector<uint64_t>{64, 512}));
  EXPECT_EQ(gguf->data_offset_bytes() % gguf->alignment(), 0u);
}

TEST(GgufTest, RoundTripsEveryValueTypeAndNestedArrays) {
  GgufWriter w(2, 64);
  w.Set("u8", {GgufType::kUint8, uint64_t{200}});
  w.Set("i8", {GgufType::kInt8, int64_t{-100}});
  w.Set("u16", {GgufType::kUint16, uint64_t{60000}});
  w.Set("i16", {GgufType::kInt16, int64_t{-30000}});
  w.SetUint32("u32", 4000000000u);
  w.SetInt32("i32", -2000000000);
  w.SetUint64("u64", 1ull << 60);
  w.Set("i64", {GgufType::kInt64, int64_t{-(1ll << 60)}});
  w.SetFloat32("f32", 0.5f);
  w.Set("f64", {GgufType::kFloat64, 3.25});
  w.SetBool("flag", true);
  w.SetString("s", "hello \xe2\x96\x81 world");
  GgufArray inner1{GgufType::kInt32, {{GgufType::kInt32, int64_t{1}}, {GgufType::kInt32, int64_t{2}}}};
  GgufArray inner2{GgufType::kInt32, {{GgufType::kInt32, int64_t{3}}}};
  GgufArray outer{GgufType::kArray, {{GgufType::kArray, inner1}, {GgufType::kArray, inner2}}};
  w.Set("nested", {GgufType::kArray, outer});
  w.SetUint32("general.alignment", 64);
  w.AddTensor("t", DType::kF32, {4, 2}, std::vector<uint8_t>(32, 0));
  std::vector<uint8_t> bytes = w.ToBytes();
  auto gguf = GgufFile::Parse(bytes, bytes.size(), "mem");
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  EXPECT_EQ(gguf->version(), 2u);
  EXPECT_EQ(gguf->alignment(), 64u);
  EXPECT_EQ(*gguf->GetUint("u8"), 200u);
  EXPECT_EQ(*gguf->GetInt("i8"), -100);
  EXPECT_EQ(*gguf->GetUint("u16"), 60000u);
  EXPECT_EQ(*gguf->GetInt("i16"), -30000);
  EXPECT_EQ(*gguf->GetUint("u32"), 4000000000u);
  EXPECT_EQ(*gguf->GetInt("i32"), -2000000000);
  EXPECT_EQ(*gguf->GetUint("u64"), 1ull << 60);
  EXPECT_EQ(*gguf->GetInt("i64"), -(1ll << 60));
  EXPECT_EQ(*gguf->GetFloat("f32"), 0.5);
  EXPECT_EQ(*gguf->GetFloat("f64"), 3.25);
  EXPECT_TRUE(*gguf->GetBool("flag"));
  EXPECT_EQ(*gguf->GetString("s"), "hello \xe2\x96\x81 world");
  const GgufArray* nested = *gguf->GetArray("nested");
  ASSERT_EQ(nested->items.size(), 2u);
  const auto& first = std::get<GgufArray>(nested->items[0].data);
  EXPECT_EQ(std::get<int64_t>(first.items[1].data), 2);
  EXPECT_EQ(gguf->FindTensor("t")->offset_bytes, 0u);
  EXPECT_EQ(gguf->data_offset_bytes() % 64, 0u);
  // Typed accessors name the key and both types on a mismatch.
  auto wrong = gguf->GetString("u32");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'u32' is uint32, expected a string"), std::string::npos);
  EXPECT_EQ(gguf->GetUint("missing").status().code(), StatusCode::kNotFound);
}

// Assembles raw GGUF bytes so that each test can break exactly one thing.
class RawGguf {
 public:
  RawGguf& U32(uint32_t v) { return Pod(v); }
  RawGguf& U64(uint64_t v) { return Pod(v); }
  RawGguf& U8(uint8_t v) { return Pod(v); }
  RawGguf& Str(const std::string& s) {
    U64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  RawGguf& Header(uint64_t tensors, uint64_t pairs, uint32_t version = 3) {
    return U32(0x46554747).U32(version).U64(tensors).U64(pairs);
  }
  RawGguf& TensorInfo(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  RawGguf& PadTo(size_t alignment) {
    while (bytes_.size() % alignment) bytes_.push_back(0);
    return *this;
  }
  RawGguf& Zeros(size_t n) {
    bytes_.resize(bytes_.size() + n, 0);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  template <typename T>
  RawGguf& Pod(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof v);
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

struct MalformedCase {
  const char* name;
  std::vector<uint8_t> bytes;
  const char* expected;  // a piece of the error message
};

std::vector<MalformedCase> MalformedCases() {
  std::vector<MalformedCase> cases;
  cases.push_back({"empty file", {}, "not a GGUF file (0 bytes)"});
  cases.push_back({"bad magic", RawGguf().U32(0x4c4c5546).U32(3).U64(0).U64(0).bytes(), "bad magic"});
  cases.push_back({"version 1", RawGguf().Header(0, 0, 1).bytes(), "GGUF version 1 is obsolete"});
  cases.push_back({"unknown version", RawGguf().Header(0, 0, 7).bytes(), "unsupported GGUF version 7"});
  cases.push_back({"truncated in header", RawGguf().U32(0x46554747).U32(3).U32(0).bytes(), "file is truncated"});
  cases.push_back({"absurd tensor count", RawGguf().Header(1ull << 40, 0).bytes(), "tensor count 1099511627776 exceeds"});
  cases.push_back({"absurd metadata count", RawGguf().Header(0, 1ull << 50).bytes(), "metadata count"});
  cases.push_back({"string longer than file", RawGguf().Header(0, 1).U64(1ull << 27).Str("x").bytes(), "file is truncated"});
  cases.push_back({"string over limit", RawGguf().Header(0, 1).U64(1ull << 40).bytes(), "over the limit"});
  cases.push_back({"unknown value type", RawGguf().Header(0, 1).Str("key").U32(99).bytes(), "unknown value type 99"});
  cases.push_back({"array longer than file",
                   RawGguf().Header(0, 1).Str("arr").U32(9).U32(4).U64(1ull << 26).Zeros(8).bytes(),
                   "cannot fit in the"});
  {
    RawGguf deep;
    deep.Header(0, 1).Str("deep").U32(9);
    for (int i = 0; i < 6; ++i) deep.U32(9).U64(1);
    deep.U32(4).U64(1).U32(7);
    cases.push_back({"arrays nested too deep", deep.bytes(), "nested deeper than"});
  }
  cases.push_back({"bool neither 0 nor 1", RawGguf().Header(0, 1).Str("b").U32(7).U8(5).bytes(), "neither 0 nor 1"});
  cases.push_back({"duplicate key",
                   RawGguf().Header(0, 2).Str("k").U32(4).U32(1).Str("k").U32(4).U32(2).bytes(), "appears twice"});
  cases.push_back({"alignment not a power of two",
                   RawGguf().Header(0, 1).Str("general.alignment").U32(4).U32(24).bytes(), "power of two"});
  cases.push_back({"unknown tensor type",
                   RawGguf().Header(1, 0).TensorInfo("w", {32}, 77, 0).PadTo(32).Zeros(128).bytes(),
                   "unknown tensor type id 77"});
  cases.push_back({"zero dimension",
                   RawGguf().Header(1, 0).TensorInfo("w", {32, 0}, 0, 0).PadTo(32).Zeros(128).bytes(),
                   "dimension 1 is 0"});
  cases.push_back({"too many dimensions",
                   RawGguf().Header(1, 0).TensorInfo("w", {1, 1, 1, 1, 1}, 0, 0).PadTo(32).Zeros(64).bytes(),
                   "5 dimensions"});
  cases.push_back({"element count overflow",
                   RawGguf().Header(1, 0).TensorInfo("w", {1ull << 40, 1ull << 40}, 0, 0).PadTo(32).Zeros(64).bytes(),
                   "overflows 64 bits"});
  cases.push_back({"row not a multiple of the block",
                   RawGguf().Header(1, 0).TensorInfo("w", {33}, 8, 0).PadTo(32).Zeros(64).bytes(),
                   "not a multiple of the Q8_0 block size 32"});
  cases.push_back({"tensor data past the end",
                   RawGguf().Header(1, 0).TensorInfo("w", {64}, 0, 0).PadTo(32).Zeros(100).bytes(),
                   "lies outside the 100 bytes of tensor data"});
  cases.push_back({"misaligned tensor offset",
                   RawGguf().Header(1, 0).TensorInfo("w", {4}, 0, 4).PadTo(32).Zeros(64).bytes(),
                   "not a multiple of the alignment"});
  cases.push_back({"overlapping tensors",
                   RawGguf().Header(2, 0).TensorInfo("a", {16}, 0, 0).TensorInfo("b", {16}, 0, 32).PadTo(32).Zeros(128).bytes(),
                   "overlaps"});
  cases.push_back({"duplicate tensor name",
                   RawGguf().Header(2, 0).TensorInfo("a", {8}, 0, 0).TensorInfo("a", {8}, 0, 32).PadTo(32).Zeros(64).bytes(),
                   "tensor name 'a' appears twice"});
  cases.push_back({"tensor infos truncated", RawGguf().Header(1, 0).Str("w").U32(2).U64(4).bytes(), "file is truncated"});
  return cases;
}

TEST(GgufTest, MalformedFilesGiveClearErrors) {
  const auto cases = MalformedCases();
  ASSERT_GE(cases.size(), 10u);
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto result = GgufFile::Parse(c.bytes, c.bytes.size(), "bad.gguf");
    ASSERT_FALSE(result.ok());
    const std::string& message = result.status().message();
    EXPECT_EQ(message.rfind("bad.gguf: ", 0), 0u) << message;  // names the file
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
  }
}

TEST(GgufTest, EveryTruncationOfARealFileFailsCleanly) {
  auto file = MappedFile::Open(Stories260KPath());
  ASSERT_TRUE(file.ok());
  auto full = GgufFile::Parse(file->bytes(), file->size(), "s");
  ASSERT_TRUE(full.ok());
  // Cut inside the header at many points and inside the tensor data.
  for (uint64_t size = 0; size < full->data_offset_bytes() + 4096; size += 97) {
    std::vector<uint8_t> cut(file->data(), file->data() + size);
    auto result = GgufFile::Parse(cut, cut.size(), "cut.gguf");
    ASSERT_FALSE(result.ok()) << size;
    EXPECT_EQ(result.status().code(), StatusCode::kCorruption) << result.status().ToString();
  }
}

TEST(GgufTest, PrefixOfAFileAsksForMoreBytes) {
  auto file = MappedFile::Open(Stories260KPath());
  ASSERT_TRUE(file.ok());
  auto result = GgufFile::Parse(file->bytes().subspan(0, 1000), file->size(), "s");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
}

TEST(GgufTest, MissingFileIsNotFound) {
  auto file = MappedFile::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace riglm
