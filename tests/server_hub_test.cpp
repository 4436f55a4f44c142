// The server's model management over a fake Hugging Face Hub: /api/pull streams progress and
// fills the cache, /api/tags lists cached models, a request for one loads it, /api/delete
// removes it.
#include <gtest/gtest.h>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "fake_hub.h"
#include "server/http_server.h"
#include "test_support.h"

namespace riglm {
namespace {

using json = nlohmann::json;

constexpr const char* kCommit = "89abcdef0123456789abcdef0123456789abcdef";

class ServerHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stories_ = testing::ReadFileBytes(testing::Stories260KPath());
    hub_.AddRepo("tiny/stories-GGUF", {kCommit, {{"stories-Q8_0.gguf", {stories_}}, {"README.md", {"hi", false}}}});
    auto hub = std::make_shared<HubOptions>();
    hub->endpoint = hub_.endpoint();
    hub->cache_dir = cache_.path();
    hub->source.retry_base_ms = 1;
    registry_ = std::make_unique<ModelRegistry>(std::vector<std::pair<std::string, std::string>>{{"stories260K", testing::Stories260KPath()}},
                                                testing::LoadServedForTest);
    ASSERT_TRUE(registry_->LoadAll().ok());
    ServerOptions options;
    options.port = 0;
    options.hub = hub;
    server_ = std::make_unique<HttpServer>(*registry_, options);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_.reset();
    registry_.reset();
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    return c;
  }
  std::vector<std::string> TagNames() {
    auto res = Client().Get("/api/tags");
    std::vector<std::string> names;
    if (!res) {
      ADD_FAILURE() << "GET /api/tags: " << httplib::to_string(res.error());
      return names;
    }
    const json body = json::parse(res->body);
    for (const json& m : body["models"]) names.push_back(m["name"]);
    return names;
  }

  testing::FakeHub hub_;
  testing::TempDir cache_;
  std::string stories_;
  std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServerHubTest, PullListGenerateAndDeleteAHubModel) {
  EXPECT_EQ(TagNames(), std::vector<std::string>{"stories260K:latest"});

  auto pull = Client().Post("/api/pull", R"({"model": "hf.co/tiny/stories-GGUF:Q8_0"})", "application/json");
  ASSERT_TRUE(pull);
  ASSERT_EQ(pull->status, 200) << pull->body;
  std::vector<json> lines;
  for (size_t at = 0, end; (end = pull->body.find('\n', at)) != std::string::npos; at = end + 1) {
    lines.push_back(json::parse(pull->body.substr(at, end - at)));
  }
  ASSERT_GE(lines.size(), 3u) << pull->body;
  EXPECT_EQ(lines.front()["status"], "pulling manifest");
  EXPECT_EQ(lines.back()["status"], "success");
  const json& progress = lines[lines.size() - 3];
  EXPECT_EQ(progress["total"], stories_.size()) << pull->body;
  EXPECT_EQ(progress["completed"], stories_.size());

  const std::vector<std::string> names = TagNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "tiny/stories-GGUF:Q8_0"), names.end());

  // A request names the cached model: it loads and answers as the same file would.
  const json request = {{"model", "tiny/stories-GGUF:Q8_0"}, {"prompt", "Once upon a time"}, {"stream", false},
                        {"raw", true}, {"options", {{"temperature", 0}, {"num_predict", 12}}}};
  auto generated = Client().Post("/api/generate", request.dump(), "application/json");
  ASSERT_TRUE(generated);
  ASSERT_EQ(generated->status, 200) << generated->body;
  json again = request;
  again["model"] = "stories260K";
  auto reference = Client().Post("/api/generate", again.dump(), "application/json");
  ASSERT_TRUE(reference);
  EXPECT_EQ(json::parse(generated->body)["response"], json::parse(reference->body)["response"]);

  auto deleted = Client().Delete("/api/delete", R"({"model": "tiny/stories-GGUF:Q8_0"})", "application/json");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200) << deleted->body;
  EXPECT_EQ(TagNames(), std::vector<std::string>{"stories260K:latest"});
  auto gone = Client().Post("/api/generate", request.dump(), "application/json");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_NE(gone->body.find("pull it first"), std::string::npos) << gone->body;
  auto twice = Client().Delete("/api/delete", R"({"model": "tiny/stories-GGUF:Q8_0"})", "application/json");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 404);
}

TEST_F(ServerHubTest, BadPullsAndDeletesGetOllamaErrors) {
  auto missing = Client().Post("/api/pull", R"({"model": "nobody/nothing", "stream": false})", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(json::parse(missing->body)["error"].get<std::string>().find("was not found"), std::string::npos) << missing->body;

  auto streamed = Client().Post("/api/pull", R"({"model": "nobody/nothing"})", "application/json");
  ASSERT_TRUE(streamed);
  EXPECT_NE(streamed->body.find("\"error\""), std::string::npos) << streamed->body;

  auto no_model = Client().Post("/api/pull", R"({"stream": false})", "application/json");
  ASSERT_TRUE(no_model);
  EXPECT_EQ(no_model->status, 400);
  auto not_json = Client().Post("/api/pull", "{", "application/json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  auto local = Client().Delete("/api/delete", R"({"model": "stories260K"})", "application/json");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 400);
  EXPECT_EQ(TagNames(), std::vector<std::string>{"stories260K:latest"});
}

}  // namespace
}  // namespace riglm
