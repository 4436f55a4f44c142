// riglm serve in-process on stories260K, driven over HTTP: greedy output equal to `riglm run`,
// many concurrent streaming clients equal to one at a time, bad input answered with the right
// 4xx while the server keeps serving, and a client that drops mid-stream freeing its sequence.
#include <gtest/gtest.h>

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/http_server.h"
#include "server/json_prefix.h"
#include "server/responses.h"
#include "test_support.h"

namespace riglm {
namespace {

using json = nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  static Result<std::unique_ptr<ServedModel>> LoadServed(const std::string& name, const std::string& path) {
    return testing::LoadServedForTest(name, path);
  }

  static void SetUpTestSuite() {
    auto reference = LlamaModel::Load(testing::Stories260KPath());
    ASSERT_TRUE(reference.ok());
    reference_ = reference->release();
    registry_ = new ModelRegistry({{"stories260K", testing::Stories260KPath()}}, LoadServed);
    ASSERT_TRUE(registry_->LoadAll().ok());
    ServerOptions server_options;
    server_options.port = 0;
    server_options.max_body_bytes = 1 << 20;
    server_options.max_tokens_limit = 512;
    server_ = new HttpServer(*registry_, server_options);
    ASSERT_TRUE(server_->Start().ok());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete registry_;
    delete reference_;
  }

  static httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    return c;
  }
  static json Post(const std::string& path, const json& body, int* status = nullptr) {
    auto res = Client().Post(path, body.dump(), "application/json");
    if (!res) return json{{"transport_error", true}};
    if (status) *status = res->status;
    return json::parse(res->body, nullptr, false);
  }
  static double Metric(const std::string& name) {
    auto res = Client().Get("/metrics");
    if (!res) return -1;
    const size_t at = res->body.find("\n" + name + "{");
    if (at == std::string::npos) return -1;
    return std::atof(res->body.c_str() + res->body.find("} ", at) + 2);
  }
  // The text of a streamed OpenAI completion, from its server-sent events.
  static std::string StreamedCompletion(const json& body) {
    std::string raw;
    auto res = Client().Post("/v1/completions", body.dump(), "application/json");
    if (!res) return "HTTP error: " + httplib::to_string(res.error());
    if (res->status != 200) return "HTTP status " + std::to_string(res->status) + ": " + res->body;
    std::string text;
    size_t pos = 0;
    while ((pos = res->body.find("data: ", pos)) != std::string::npos) {
      const size_t end = res->body.find("\n\n", pos);
      const std::string data = res->body.substr(pos + 6, end - pos - 6);
      pos = end;
      if (data == "[DONE]") break;
      const json j = json::parse(data);
      if (!j["choices"].empty()) text += j["choices"][0]["text"].get<std::string>();
    }
    return text;
  }

  static LlamaModel* reference_;  // the same file, for expected outputs
  static ModelRegistry* registry_;
  static HttpServer* server_;
};

LlamaModel* ServerTest::reference_ = nullptr;
ModelRegistry* ServerTest::registry_ = nullptr;
HttpServer* ServerTest::server_ = nullptr;

TEST_F(ServerTest, GreedyCompletionEqualsRiglmRun) {
  const std::string want = testing::GreedyText(*reference_, "Once upon a time", 60);
  const json r = Post("/v1/completions", {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}});
  ASSERT_TRUE(r.contains("choices")) << r.dump();
  EXPECT_EQ(r["choices"][0]["text"], want);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 60);
  EXPECT_EQ(StreamedCompletion({{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}, {"stream", true}}), want);
  const json o = Post("/api/generate", {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"stream", false},
                                        {"options", {{"num_predict", 60}, {"temperature", 0}, {"repeat_penalty", 1.0}}}});
  EXPECT_EQ(o["response"], want) << o.dump();
  EXPECT_EQ(o["eval_count"], 60);
  EXPECT_TRUE(o["done"].get<bool>());
}

TEST_F(ServerTest, SixteenConcurrentStreamsEqualOneAtATime) {
  auto body = [](int i) {
    return json{{"prompt", i % 2 ? "Once upon a time" : "The little dog"}, {"max_tokens", 40},
                {"temperature", 0.9}, {"seed", 1000 + i}, {"stream", true}};
  };
  std::vector<std::string> alone(16), together(16);
  for (int i = 0; i < 16; ++i) alone[i] = StreamedCompletion(body(i));
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) clients.emplace_back([&, i] { together[i] = StreamedCompletion(body(i)); });
  for (auto& t : clients) t.join();
  for (int i = 0; i < 16; ++i) {
    EXPECT_FALSE(alone[i].empty());
    EXPECT_EQ(together[i], alone[i]) << "client " << i;
  }
  EXPECT_NE(alone[0], alone[2]);  // the seeds matter
}

// Without SO_REUSEPORT a second server cannot bind the port and quietly take half its clients.
TEST_F(ServerTest, ASecondServerOnTheSamePortIsRefused) {
  ServerOptions options;
  options.port = server_->port();
  HttpServer second(*registry_, options);
  const Status s = second.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("in use"), std::string::npos) << s.message();
  EXPECT_EQ(Post("/v1/completions", {{"prompt", "Once"}, {"max_tokens", 1}})["usage"]["completion_tokens"], 1);
}

TEST_F(ServerTest, BadInputGetsClearErrorsAndTheServerKeepsServing) {
  struct Case {
    std::string path;
    std::string body;
    int status;
    std::string says;
  };
  const std::string big_prompt(6000, 'x');
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, "not valid JSON"},
      {"/v1/completions", "[1,2]", 400, "JSON object"},
      {"/v1/completions", "{}", 400, "'prompt' is required"},
      {"/v1/completions", R"({"prompt": 5})", 400, "'prompt' must be a string"},
      {"/v1/completions", R"({"prompt": "hi", "model": "llama-9000"})", 404, "not found (this server has: stories260K)"},
      {"/v1/completions", R"({"prompt": "hi", "model": 7})", 400, "'model' must be a string"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 0})", 400, "'max_tokens' must be between 1"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 100000000})", 400, "'max_tokens' must be between"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": "ten"})", 400, "'max_tokens' must be an integer"},
      {"/v1/completions", R"({"prompt": "hi", "temperature": -1})", 400, "'temperature' must be between 0 and 2"},
      {"/v1/completions", R"({"prompt": "hi", "temperature": "hot"})", 400, "'temperature' must be a number"},
      {"/v1/completions", R"({"prompt": "hi", "top_p": 0})", 400, "'top_p'"},
      {"/v1/completions", R"({"prompt": "hi", "presence_penalty": 3})", 400, "'presence_penalty'"},
      {"/v1/completions", R"({"prompt": "hi", "frequency_penalty": -9})", 400, "'frequency_penalty'"},
      {"/v1/completions", R"({"prompt": "hi", "n": 3})", 400, "'n' must be between 1 and 1"},
      {"/v1/completions", R"({"prompt": "hi", "stop": 5})", 400, "'stop' must be a string or an array"},
      {"/v1/completions", R"({"prompt": "hi", "stream": "yes"})", 400, "'stream' must be true or false"},
      {"/v1/completions", R"({"prompt": "hi", "seed": 1.5})", 400, "'seed' must be an integer"},
      {"/v1/completions", R"({"prompt": "hi", "logprobs": 50})", 400, "'logprobs' must be between 0 and 20"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2})", 400, "needs 'logprobs': true"},
      {"/v1/completions", R"({"prompt": ")" + big_prompt + R"("})", 400, "context holds 512"},
      {"/v1/chat/completions", R"({"model": "stories260K"})", 400, "'messages' is required"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "non-empty array"},
      {"/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "hi"}]})", 400, "messages[0].role"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user"}]})", 400, "messages[0].content"},
      {"/v1/chat/completions", R"({"messages": ["hi"]})", 400, "must be an object"},
      {"/api/generate", R"({"prompt": "hi"})", 400, "model is required"},
      {"/api/generate", R"({"model": "nope", "prompt": "hi"})", 404, "not found"},
      {"/api/generate", R"({"model": "stories260K", "prompt": "hi", "options": {"temperature": "x"}})", 400, "options.temperature"},
      {"/api/generate", R"({"model": "stories260K", "prompt": "hi", "options": []})", 400, "options must be an object"},
      {"/api/chat", R"({"model": "stories260K", "messages": "hi"})", 400, "non-empty array"},
      {"/api/show", R"({})", 400, "model is required"},
      {"/api/show", R"({"model": "nope"})", 404, "not found"},
      {"/v1/nothing", R"({})", 404, "no such endpoint"},
  };
  ASSERT_GE(cases.size(), 25u);
  for (const Case& c : cases) {
    auto res = Client().Post(c.path, c.body, "application/json");
    ASSERT_TRUE(res) << c.path << " " << c.body.substr(0, 80);
    EXPECT_EQ(res->status, c.status) << c.body.substr(0, 80) << " -> " << res->body;
    EXPECT_NE(res->body.find(c.says), std::string::npos) << c.body.substr(0, 80) << " -> " << res->body;
    const json j = json::parse(res->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << res->body;
    if (c.path.rfind("/v1/", 0) == 0 && j.is_object() && j.contains("error")) {
      EXPECT_TRUE(j["error"].contains("message"));
    }
  }
  // A body over the limit.
  auto huge = Client().Post("/v1/completions", std::string(2 << 20, ' '), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  // Still serving, correctly.
  const json ok = Post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 0}});
  EXPECT_EQ(ok["choices"][0]["text"], testing::GreedyText(*reference_, "Once upon a time", 10));
}

TEST_F(ServerTest, ClientThatDropsMidStreamFreesItsSequence) {
  const double cancelled_before = Metric("riglm_requests_cancelled_total");
  std::atomic<int> chunks{0};
  httplib::Client c = Client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = json{{"messages", {{{"role", "user"}, {"content", "Tell me a long story"}}}}, {"stream", true}, {"temperature", 1.0}}.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };  // hang up early
  c.send(req);
  EXPECT_GE(chunks.load(), 3);
  double active = -1, cells = -1;
  for (int i = 0; i < 100; ++i) {
    active = Metric("riglm_active_sequences");
    cells = Metric("riglm_kv_cache_cells_used");
    if (active == 0 && cells == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(active, 0);
  EXPECT_EQ(cells, 0);
  EXPECT_EQ(Metric("riglm_requests_cancelled_total"), cancelled_before + 1);
}

// A client of a non-streaming request that hangs up before the answer: its request is cancelled
// and its cache freed, though nothing was written to it yet.
TEST_F(ServerTest, ClientThatLeavesBeforeANonStreamedAnswerFreesItsSequence) {
  const double cancelled_before = Metric("riglm_requests_cancelled_total");
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server_->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const std::string body =
      json{{"prompt", "Once upon a time"}, {"max_tokens", 512}, {"temperature", 1.0}, {"seed", 3}}.dump();
  const std::string request = "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  close(fd);  // before the answer: the whole generation takes far longer than this
  double cancelled = -1, active = -1, cells = -1;
  for (int i = 0; i < 100; ++i) {
    cancelled = Metric("riglm_requests_cancelled_total");
    active = Metric("riglm_active_sequences");
    cells = Metric("riglm_kv_cache_cells_used");
    if (cancelled == cancelled_before + 1 && active == 0 && cells == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(cancelled, cancelled_before + 1);
  EXPECT_EQ(active, 0);
  EXPECT_EQ(cells, 0);
}

// Log-probabilities: with greedy decoding the chosen token is the most likely alternative, the
// pieces add up to the text, and every value is a log-probability.
TEST_F(ServerTest, LogprobsDescribeTheChosenTokens) {
  const json r = Post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0}, {"logprobs", 3}});
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 12u) << r.dump();
  std::string joined;
  size_t offset = 0;
  for (size_t i = 0; i < lp["tokens"].size(); ++i) {
    joined += lp["tokens"][i].get<std::string>();
    EXPECT_EQ(lp["text_offset"][i].get<size_t>(), offset);
    offset += lp["tokens"][i].get<std::string>().size();
    const double chosen = lp["token_logprobs"][i].get<double>();
    EXPECT_LE(chosen, 0.0);
    ASSERT_EQ(lp["top_logprobs"][i].size(), 3u);
    double best = -1e9;
    for (const auto& [piece, value] : lp["top_logprobs"][i].items()) best = std::max(best, value.get<double>());
    EXPECT_DOUBLE_EQ(best, chosen);  // greedy took the most likely token
  }
  EXPECT_EQ(joined, r["choices"][0]["text"]);

  const json chat = Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 6},
                                                  {"logprobs", true}, {"top_logprobs", 2}});
  const json& content = chat["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 6u) << chat.dump();
  std::string text;
  for (const json& t : content) {
    text += t["token"].get<std::string>();
    EXPECT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
  }
  EXPECT_EQ(text, chat["choices"][0]["message"]["content"]);

  // Ollama: a "logprobs" list beside the response, whole or spread over the streamed lines.
  const json generate = {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"stream", false},
                         {"options", {{"temperature", 0}, {"num_predict", 8}}}, {"logprobs", true}, {"top_logprobs", 2}};
  const json whole = Post("/api/generate", generate);
  ASSERT_EQ(whole["logprobs"].size(), 8u) << whole.dump();
  std::string ollama_text;
  for (const json& t : whole["logprobs"]) {
    ollama_text += t["token"].get<std::string>();
    ASSERT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_DOUBLE_EQ(t["top_logprobs"][0]["logprob"].get<double>(), t["logprob"].get<double>());  // greedy
    EXPECT_EQ(t["bytes"].size(), t["token"].get<std::string>().size());
  }
  EXPECT_EQ(ollama_text, whole["response"]);
  json streamed_request = generate;
  streamed_request["stream"] = true;
  auto res = Client().Post("/api/generate", streamed_request.dump(), "application/json");
  ASSERT_TRUE(res && res->status == 200);
  json streamed = json::array();
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    const json j = json::parse(line);
    if (j.contains("logprobs")) streamed.insert(streamed.end(), j["logprobs"].begin(), j["logprobs"].end());
  }
  EXPECT_EQ(streamed, whole["logprobs"]);
  int status = 0;
  Post("/api/generate", {{"model", "stories260K"}, {"prompt", "x"}, {"top_logprobs", 2}}, &status);
  EXPECT_EQ(status, 400);  // top_logprobs without logprobs
}

// format "json" / response_format json_object: whatever the model would say, the output is
// JSON, ended as soon as the value is complete (or cut by the token limit, still a JSON prefix).
TEST_F(ServerTest, JsonFormatGivesJson) {
  int complete = 0;
  for (int seed = 0; seed < 6; ++seed) {
    const json r = Post("/api/generate", {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"format", "json"},
                                          {"stream", false}, {"options", {{"num_predict", 120}, {"seed", seed}, {"temperature", 1.0}}}});
    const std::string text = r["response"].get<std::string>();
    ASSERT_FALSE(text.empty()) << r.dump();
    JsonPrefix prefix;
    EXPECT_TRUE(prefix.Feed(text)) << text;
    if (r["done_reason"] == "stop") {
      EXPECT_TRUE(json::accept(text)) << text;
      ++complete;
    }
  }
  const json o = Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 60},
                                               {"response_format", {{"type", "json_object"}}}, {"seed", 3}});
  JsonPrefix prefix;
  EXPECT_TRUE(prefix.Feed(o["choices"][0]["message"]["content"].get<std::string>())) << o.dump();
  std::printf("[   INFO   ] %d of 6 JSON answers completed within 120 tokens\n", complete);
}

// keep_alive 0 unloads the model once its request is done; the next request loads it again.
// A JSON schema as Ollama's format or OpenAI's json_schema response format: with nothing left
// free, every answer is complete, valid JSON the schema accepts; a schema that cannot be
// enforced is refused with the keyword's name.
TEST_F(ServerTest, JsonSchemaFormatGivesValuesTheSchemaAccepts) {
  const json schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}, {"enum", {"Lily", "Tom", "Ben"}}}},
                                       {"happy", {{"type", "boolean"}}},
                                       {"friends", {{"type", "array"}, {"items", {{"enum", {"cat", "dog"}}}}, {"maxItems", 2}}}}},
                       {"required", {"name", "happy"}}};
  auto check = [&](const std::string& text) {
    const json v = json::parse(text, nullptr, false);
    ASSERT_TRUE(v.is_object()) << text;
    EXPECT_TRUE(v["name"] == "Lily" || v["name"] == "Tom" || v["name"] == "Ben") << text;
    EXPECT_TRUE(v["happy"].is_boolean()) << text;
    for (const auto& [key, value] : v.items()) EXPECT_TRUE(key == "name" || key == "happy" || key == "friends") << text;
    if (v.contains("friends")) {
      EXPECT_LE(v["friends"].size(), 2u) << text;
    }
  };
  for (int seed = 0; seed < 4; ++seed) {
    const json r = Post("/api/generate", {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"format", schema},
                                          {"stream", false}, {"options", {{"num_predict", 200}, {"seed", seed}, {"temperature", 1.0}}}});
    EXPECT_EQ(r["done_reason"], "stop") << r.dump();
    check(r["response"].get<std::string>());
  }
  const json o = Post("/v1/chat/completions",
                      {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 200}, {"seed", 5},
                       {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "pet"}, {"strict", true}, {"schema", schema}}}}}});
  EXPECT_EQ(o["choices"][0]["finish_reason"], "stop") << o.dump();
  check(o["choices"][0]["message"]["content"].get<std::string>());

  int status = 0;
  const json bad = Post("/api/generate", {{"model", "stories260K"}, {"prompt", "x"}, {"format", {{"anyOf", json::array()}}}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(bad["error"].get<std::string>().find("anyOf"), std::string::npos) << bad.dump();
  const json bad_openai = Post("/v1/completions", {{"prompt", "x"}, {"response_format", {{"type", "json_schema"}}}}, &status);
  EXPECT_EQ(status, 400) << bad_openai.dump();
}

TEST_F(ServerTest, KeepAliveUnloadsAndRequestsReload) {
  const json r = Post("/api/generate", {{"model", "stories260K"}, {"prompt", "Once"}, {"stream", false}, {"keep_alive", 0},
                                        {"options", {{"num_predict", 3}}}});
  EXPECT_EQ(r["eval_count"], 3) << r.dump();
  json ps;
  for (int i = 0; i < 50; ++i) {
    ps = json::parse(Client().Get("/api/ps")->body);
    if (ps["models"].empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(ps["models"].empty()) << ps.dump();
  EXPECT_NE(Client().Get("/metrics")->body.find("riglm_model_loaded{model=\"stories260K\"} 0"), std::string::npos);
  // Still listed, and loaded again on demand.
  EXPECT_EQ(json::parse(Client().Get("/api/tags")->body)["models"].size(), 1u);
  const json again = Post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 0}});
  EXPECT_EQ(again["choices"][0]["text"], testing::GreedyText(*reference_, "Once upon a time", 10));
  ps = json::parse(Client().Get("/api/ps")->body);
  EXPECT_EQ(ps["models"].size(), 1u);
  // A load request (no prompt) answers at once; malformed keep_alive is refused.
  const json load = Post("/api/generate", {{"model", "stories260K"}});
  EXPECT_EQ(load["done_reason"], "load");
  int status = 0;
  const json bad = Post("/api/generate", {{"model", "stories260K"}, {"prompt", "x"}, {"keep_alive", "soon"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(bad["error"].get<std::string>().find("not a duration"), std::string::npos) << bad.dump();
}

TEST_F(ServerTest, ListingsAndHealth) {
  auto health = Client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const json models = json::parse(Client().Get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["id"], "stories260K");
  const json tags = json::parse(Client().Get("/api/tags")->body);
  EXPECT_EQ(tags["models"][0]["name"], "stories260K:latest");
  EXPECT_EQ(tags["models"][0]["details"]["format"], "gguf");
  const json version = json::parse(Client().Get("/api/version")->body);
  EXPECT_TRUE(version.contains("version"));
  const json show = Post("/api/show", {{"model", "stories260K"}});
  EXPECT_EQ(show["model_info"]["general.architecture"], "llama");
  const json chat = Post("/api/chat", {{"model", "stories260K:latest"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                       {"stream", false}, {"options", {{"num_predict", 5}}}});
  EXPECT_EQ(chat["message"]["role"], "assistant") << chat.dump();
  EXPECT_EQ(chat["eval_count"], 5);
  EXPECT_GT(Metric("riglm_generated_tokens_total"), 0);
}

}  // namespace
}  // namespace riglm

namespace riglm {
namespace {

// A byte token on its own is not valid UTF-8; the body must still be JSON (with U+FFFD).
TEST(ServerJsonTest, InvalidUtf8FromTheModelStillGivesJson) {
  const nlohmann::ordered_json j = {{"text", std::string("ok \xe2\x82 \xff end")}};
  const std::string text = ToJsonText(j);
  const nlohmann::json back = nlohmann::json::parse(text);
  EXPECT_EQ(back["text"], "ok \xef\xbf\xbd \xef\xbf\xbd end");
}

// The KV cache as a shared pool of blocks: with room for 4 blocks (128 positions) and requests
// that may fill 3 each, the second waits until the first ends, though a slot is free; a request
// that could never fit is refused at once; and every block is back in the pool afterwards.
TEST(SchedulerTest, RequestWaitsUntilTheCacheCanHoldIt) {
  auto model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(model.ok());
  auto tokenizer = Tokenizer::FromGguf((*model)->gguf());
  ASSERT_TRUE(tokenizer.ok());
  SchedulerOptions options;
  options.parallel = 4;
  options.context = 256;
  options.kv_positions = 128;
  options.threads = 2;
  Scheduler scheduler(**model, **tokenizer, options);
  EXPECT_EQ(scheduler.Metrics().kv_cells_total, 128u);

  GenerationRequest request;
  request.prompt = (*tokenizer)->Encode("Once upon a time", {.add_bos = true});
  request.sampling.temperature = 0.0f;
  request.max_tokens = 200;  // prompt + 200 > 128 positions: can never fit
  auto refused = scheduler.Submit(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("KV cache"), std::string::npos) << refused.status().ToString();

  request.max_tokens = 80;  // 3 blocks of 32
  const auto submitting = std::chrono::steady_clock::now();
  auto first = scheduler.Submit(request);
  auto second = scheduler.Submit(request);
  const double submit_gap = std::chrono::duration<double>(std::chrono::steady_clock::now() - submitting).count();
  ASSERT_TRUE(first.ok() && second.ok());
  auto last_event = [](RequestHandle& handle) {
    GenerationEvent e;
    while (handle.Next(&e, std::chrono::seconds(60)) && !e.done) {
    }
    return e;
  };
  const GenerationEvent a = last_event(**first), b = last_event(**second);
  ASSERT_TRUE(a.done && b.done);
  ASSERT_TRUE(a.error.ok() && b.error.ok());
  EXPECT_GT(a.completion_tokens, 0);
  // The second started only when the first had ended: it waited at least the first's whole time,
  // less the moment between their arrivals.
  EXPECT_GE(b.queue_seconds, a.queue_seconds + a.prompt_seconds + a.generate_seconds - submit_gap - 1e-4);
  EXPECT_EQ(scheduler.Metrics().kv_cells_used, 0u);

  // Without max_tokens a request may use the whole pool, though its context is larger, and no more.
  request.max_tokens = -1;
  request.sampling.temperature = 1.0f;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    request.sampling.seed = seed;
    auto open_ended = scheduler.Submit(request);
    ASSERT_TRUE(open_ended.ok()) << open_ended.status().ToString();
    const GenerationEvent c = last_event(**open_ended);
    ASSERT_TRUE(c.done && c.error.ok()) << c.error.ToString();
    // The last token sampled is never stored: 128 positions hold at most 129 tokens.
    EXPECT_LE(c.prompt_tokens + c.completion_tokens, 129);
  }
}

}  // namespace
}  // namespace riglm
