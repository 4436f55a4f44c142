// Models read over HTTP with range requests: the same output as the local file, and every
// server misbehaviour ends in a retry that succeeds or in a clear error, never in wrong bytes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

#include "fake_http_server.h"
#include "io/byte_source.h"
#include "loader/model_loader.h"
#include "test_support.h"

namespace riglm {
namespace {

using testing::FakeHttpServer;
using testing::HttpReply;
using testing::HttpRequest;
using testing::ServeRange;

SourceOptions FastRetries() {
  SourceOptions o;
  o.retry_base_ms = 1;
  o.max_retries = 4;
  return o;
}

std::string Stories() { return testing::ReadFileBytes(testing::Stories260KPath()); }

TEST(HttpSourceTest, ModelOverHttpGivesTheLocalFilesOutput) {
  const std::string content = Stories();
  ASSERT_GT(content.size(), 1000000u);
  FakeHttpServer server([&](const HttpRequest& r) { return ServeRange(content, r); });
  ModelLoadOptions options;
  options.source = FastRetries();
  options.load.buffer_bytes = 2u << 20;  // 1 MiB chunks: several ranges, read by several threads
  options.load.buffers = 2;
  options.load.readers = 3;
  auto remote = LoadModelFrom(server.Url("/models/stories260K.gguf"), options);
  ASSERT_TRUE(remote.ok()) << remote.status().ToString();
  auto local = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(local.ok());
  const std::string want = testing::GreedyText(**local, "Once upon a time", 60);
  EXPECT_EQ(testing::GreedyText(**remote, "Once upon a time", 60), want);
  EXPECT_GT(server.requests(), 2);
}

// Reads every byte through the source and compares with the content.
void ExpectReadsContent(ByteSource& source, const std::string& content) {
  std::vector<uint8_t> got(content.size());
  const Status s = source.ReadAt(0, got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(std::memcmp(got.data(), content.data(), content.size()), 0);
}

TEST(HttpSourceTest, DroppedConnectionResumesWhereItStopped) {
  const std::string content = Stories();
  std::atomic<int> data_requests{0};
  FakeHttpServer server([&](const HttpRequest& r) {
    HttpReply reply = ServeRange(content, r);
    // The first two reads after the probe lose their connection part-way.
    if (r.headers.count("range") && r.headers.at("range") != "bytes=0-0" && data_requests++ < 2) reply.cut_after = 100000;
    return reply;
  });
  auto source = OpenHttpSource(server.Url("/m.gguf"), FastRetries());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ExpectReadsContent(**source, content);
  EXPECT_GE(data_requests.load(), 3);
}

TEST(HttpSourceTest, ShortBodyIsRetried) {
  const std::string content = Stories();
  std::atomic<int> data_requests{0};
  FakeHttpServer server([&](const HttpRequest& r) {
    HttpReply reply = ServeRange(content, r);
    if (r.headers.at("range") != "bytes=0-0" && data_requests++ == 0) {
      reply.body.resize(reply.body.size() / 3);  // announces the full length, sends a third
      reply.declared_length = static_cast<int64_t>(reply.body.size() * 3);
    }
    return reply;
  });
  auto source = OpenHttpSource(server.Url("/m.gguf"), FastRetries());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ExpectReadsContent(**source, content);
}

TEST(HttpSourceTest, ServerErrorsAreRetriedThenReported) {
  const std::string content = Stories();
  std::atomic<int> failures_left{2};
  FakeHttpServer flaky([&](const HttpRequest& r) {
    if (failures_left-- > 0) return HttpReply{500, {}, "try later"};
    return ServeRange(content, r);
  });
  auto source = OpenHttpSource(flaky.Url("/m.gguf"), FastRetries());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ExpectReadsContent(**source, content);

  std::atomic<bool> broken{false};
  FakeHttpServer failing([&](const HttpRequest& r) {
    if (broken.load()) return HttpReply{500, {}, "down"};
    return ServeRange(content, r);
  });
  auto later = OpenHttpSource(failing.Url("/m.gguf"), FastRetries());
  ASSERT_TRUE(later.ok());
  broken.store(true);
  std::vector<uint8_t> got(1000);
  const Status s = (*later)->ReadAt(5000, got);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("gave up after 4 retries (HTTP 500)"), std::string::npos) << s.ToString();
}

TEST(HttpSourceTest, ServerWithoutRangeSupportIsAClearError) {
  const std::string content = Stories();
  FakeHttpServer server([&](const HttpRequest&) {
    HttpReply reply;
    reply.body = content;  // ignores Range, always 200 with everything
    return reply;
  });
  auto source = OpenHttpSource(server.Url("/m.gguf"), FastRetries());
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.status().message().find("ignores Range requests"), std::string::npos) << source.status().ToString();
  auto model = LoadModelFrom(server.Url("/m.gguf"));
  EXPECT_FALSE(model.ok());
}

TEST(HttpSourceTest, FileChangingOnTheServerIsDetected) {
  const std::string content = Stories();
  std::atomic<int> count{0};
  FakeHttpServer server([&](const HttpRequest& r) {
    return ServeRange(content, r, count++ == 0 ? "\"v1\"" : "\"v2\"");  // replaced after the probe
  });
  ModelLoadOptions options;
  options.source = FastRetries();
  auto model = LoadModelFrom(server.Url("/m.gguf"), options);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("changed on the server"), std::string::npos) << model.status().ToString();
}

TEST(HttpSourceTest, MissingFileAndUnreachableServer) {
  FakeHttpServer server([](const HttpRequest&) { return HttpReply{404, {}, "no"}; });
  auto missing = OpenHttpSource(server.Url("/nothing.gguf"), FastRetries());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  SourceOptions quick = FastRetries();
  quick.max_retries = 1;
  auto nobody = OpenHttpSource("http://127.0.0.1:1/m.gguf", quick);
  EXPECT_FALSE(nobody.ok());
  EXPECT_NE(nobody.status().message().find("127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace riglm
