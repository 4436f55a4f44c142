#include "server/api.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <random>

#include "server/json_schema.h"
#include "server/model_registry.h"

namespace riglm {
namespace {

using json = nlohmann::ordered_json;

class Checker {
 public:
  Checker(const json& body, ApiError* error) : body_(body), error_(error) {}
  bool failed() const { return failed_; }

  void Fail(const std::string& param, const std::string& message, int status = 400) {
    if (failed_) return;
    failed_ = true;
    error_->status = status;
    error_->param = param;
    error_->message = message;
  }

  const json* Get(const json& object, const std::string& key) {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }

  void String(const json& object, const std::string& key, std::string* out, const std::string& path) {
    if (const json* v = Get(object, key)) {
      if (!v->is_string()) return Fail(path, "'" + path + "' must be a string");
      *out = v->get<std::string>();
    }
  }
  void Bool(const json& object, const std::string& key, bool* out, const std::string& path) {
    if (const json* v = Get(object, key)) {
      if (!v->is_boolean()) return Fail(path, "'" + path + "' must be true or false");
      *out = v->get<bool>();
    }
  }
  void Number(const json& object, const std::string& key, float* out, const std::string& path, double lo, double hi) {
    if (const json* v = Get(object, key)) {
      if (!v->is_number()) return Fail(path, "'" + path + "' must be a number");
      const double d = v->get<double>();
      if (!std::isfinite(d) || d < lo || d > hi) {
        return Fail(path, "'" + path + "' must be between " + Format(lo) + " and " + Format(hi) + ", got " + Format(d));
      }
      *out = static_cast<float>(d);
    }
  }
  template <typename Int>
  void Integer(const json& object, const std::string& key, Int* out, const std::string& path, int64_t lo, int64_t hi) {
    if (const json* v = Get(object, key)) {
      if (!v->is_number_integer()) return Fail(path, "'" + path + "' must be an integer");
      const int64_t i = v->get<int64_t>();
      if (i < lo || i > hi) {
        return Fail(path, "'" + path + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                              ", got " + std::to_string(i));
      }
      *out = static_cast<Int>(i);
    }
  }
  // A seed, or a fresh random one when absent or negative.
  void Seed(const json& object, const std::string& key, uint64_t* out, const std::string& path) {
    int64_t seed = -1;
    Integer(object, key, &seed, path, INT64_MIN, INT64_MAX);
    *out = seed >= 0 ? static_cast<uint64_t>(seed) : std::random_device{}();
  }
  void Stop(const json& object, const std::string& key, std::vector<std::string>* out, const std::string& path) {
    const json* v = Get(object, key);
    if (v == nullptr) return;
    if (v->is_string()) {
      if (!v->get<std::string>().empty()) out->push_back(v->get<std::string>());
      return;
    }
    if (!v->is_array() || v->size() > 16) return Fail(path, "'" + path + "' must be a string or an array of at most 16 strings");
    for (const json& s : *v) {
      if (!s.is_string()) return Fail(path, "'" + path + "' must contain only strings");
      if (!s.get<std::string>().empty()) out->push_back(s.get<std::string>());
    }
  }
  // Chat messages: roles and contents checked; content parts of type "text" are joined.
  void Messages(const json& object, json* out) {
    const json* v = Get(object, "messages");
    if (v == nullptr) return Fail("messages", "'messages' is required");
    if (!v->is_array() || v->empty()) return Fail("messages", "'messages' must be a non-empty array");
    *out = json::array();
    for (size_t i = 0; i < v->size(); ++i) {
      const json& m = (*v)[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) return Fail(at, "'" + at + "' must be an object");
      const json* role = Get(m, "role");
      if (role == nullptr || !role->is_string()) return Fail(at + ".role", "'" + at + ".role' must be a string");
      const std::string r = role->get<std::string>();
      if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer") {
        return Fail(at + ".role", "'" + at + ".role' must be system, user, assistant or tool, got '" + r + "'");
      }
      std::string content;
      const json* c = Get(m, "content");
      if (c != nullptr && c->is_string()) {
        content = c->get<std::string>();
      } else if (c != nullptr && c->is_array()) {
        for (const json& part : *c) {
          if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
              !part["text"].is_string()) {
            return Fail(at + ".content", "'" + at + ".content' parts must be {\"type\": \"text\", \"text\": ...}");
          }
          content += part["text"].get<std::string>();
        }
      } else if (c != nullptr || r != "assistant") {
        return Fail(at + ".content", "'" + at + ".content' must be a string or an array of text parts");
      }
      out->push_back({{"role", r == "developer" ? "system" : r}, {"content", content}});
    }
  }

 private:
  static std::string Format(double d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", d);
    return buf;
  }
  const json& body_;
  ApiError* error_;
  bool failed_ = false;
};

// Chat completions and Ollama: `logprobs` true to report them, `top_logprobs` alternatives.
void ParseLogprobFlags(ApiRequest* r, const json& body, Checker& c) {
  bool logprobs = false;
  c.Bool(body, "logprobs", &logprobs, "logprobs");
  int top = 0;
  c.Integer(body, "top_logprobs", &top, "top_logprobs", 0, 20);
  if (top > 0 && !logprobs) return c.Fail("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  if (logprobs) r->generation.logprobs = top;
}

void ParseOpenAi(ApiRequest* r, const json& body, Checker& c, int64_t context) {
  SamplingParams& s = r->generation.sampling;
  // OpenAI's defaults: plain temperature sampling.
  s.temperature = 1.0f;
  s.top_p = 1.0f;
  s.top_k = 0;
  s.min_p = 0.0f;
  c.String(body, "model", &r->model, "model");
  c.Bool(body, "stream", &r->stream, "stream");
  c.Number(body, "temperature", &s.temperature, "temperature", 0, 2);
  c.Number(body, "top_p", &s.top_p, "top_p", 1e-9, 1);
  c.Number(body, "presence_penalty", &s.presence_penalty, "presence_penalty", -2, 2);
  c.Number(body, "frequency_penalty", &s.frequency_penalty, "frequency_penalty", -2, 2);
  c.Integer(body, "top_k", &s.top_k, "top_k", 0, 1 << 20);  // llama-server's extension
  c.Number(body, "min_p", &s.min_p, "min_p", 0, 1);
  c.Number(body, "repeat_penalty", &s.repeat_penalty, "repeat_penalty", 1e-3, 10);
  c.Seed(body, "seed", &s.seed, "seed");
  int n = 1;
  c.Integer(body, "n", &n, "n", 1, 1);
  c.Stop(body, "stop", &r->generation.stop, "stop");
  r->generation.max_tokens = r->kind == ApiKind::kOpenAiCompletion ? 16 : -1;
  c.Integer(body, "max_tokens", &r->generation.max_tokens, "max_tokens", 1, context);
  c.Integer(body, "max_completion_tokens", &r->generation.max_tokens, "max_completion_tokens", 1, context);
  if (const json* rf = c.Get(body, "response_format")) {
    const json* type = rf->is_object() ? c.Get(*rf, "type") : nullptr;
    if (type == nullptr || !type->is_string()) return c.Fail("response_format", "'response_format' must be {\"type\": ...}");
    if (*type == "json_object") {
      r->generation.json_only = true;
    } else if (*type == "json_schema") {
      const json* wrapper = c.Get(*rf, "json_schema");
      const json* schema = wrapper != nullptr && wrapper->is_object() ? c.Get(*wrapper, "schema") : nullptr;
      if (schema == nullptr) {
        return c.Fail("response_format", "'response_format' of type json_schema needs {\"json_schema\": {\"schema\": ...}}");
      }
      auto parsed = JsonSchema::Parse(*schema);
      if (!parsed.ok()) return c.Fail("response_format", "response_format.json_schema." + parsed.status().message());
      r->generation.json_only = true;
      r->generation.json_schema = std::move(*parsed);
    } else if (*type != "text") {
      return c.Fail("response_format", "'response_format' type '" + type->get<std::string>() +
                                           "' is not supported (text, json_object or json_schema)");
    }
  }
  if (const json* so = c.Get(body, "stream_options")) {
    if (!so->is_object()) return c.Fail("stream_options", "'stream_options' must be an object");
    c.Bool(*so, "include_usage", &r->include_usage, "stream_options.include_usage");
  }
  if (r->kind == ApiKind::kOpenAiCompletion) {
    // Completions: logprobs is the number of alternatives (0-5 in OpenAI's API; up to 20 here).
    c.Integer(body, "logprobs", &r->generation.logprobs, "logprobs", 0, 20);
  } else {
    ParseLogprobFlags(r, body, c);
  }
  if (r->kind == ApiKind::kOpenAiChat) {
    c.Messages(body, &r->messages);
  } else {
    const json* p = c.Get(body, "prompt");
    if (p == nullptr) return c.Fail("prompt", "'prompt' is required");
    if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
      r->prompt = (*p)[0].get<std::string>();
    } else if (p->is_string()) {
      r->prompt = p->get<std::string>();
    } else {
      return c.Fail("prompt", "'prompt' must be a string (batches of prompts are not supported)");
    }
  }
}

void ParseOllama(ApiRequest* r, const json& body, Checker& c, int64_t context) {
  ParseLogprobFlags(r, body, c);
  SamplingParams& s = r->generation.sampling;
  // Ollama's defaults.
  s.temperature = 0.8f;
  s.top_k = 40;
  s.top_p = 0.9f;
  s.min_p = 0.0f;
  s.repeat_penalty = 1.1f;
  s.repeat_last_n = 64;
  r->stream = true;
  c.String(body, "model", &r->model, "model");
  if (r->model.empty()) return c.Fail("model", "model is required");
  c.Bool(body, "stream", &r->stream, "stream");
  if (const json* f = c.Get(body, "format")) {
    if (f->is_object()) {
      auto parsed = JsonSchema::Parse(*f);
      if (!parsed.ok()) return c.Fail("format", "format: " + parsed.status().message());
      r->generation.json_schema = std::move(*parsed);
    } else if (!f->is_string() || f->get<std::string>() != "json") {
      return c.Fail("format", "format must be \"json\" or a JSON schema object");
    }
    r->generation.json_only = true;
  }
  if (const json* ka = c.Get(body, "keep_alive")) {
    auto seconds = ka->is_number() ? Result<double>(ka->get<double>() < 0 ? -1.0 : ka->get<double>())
                   : ka->is_string() ? ParseKeepAlive(ka->get<std::string>())
                                     : Result<double>(InvalidArgument("keep_alive must be a duration such as \"5m\" or a number of seconds"));
    if (!seconds.ok()) return c.Fail("keep_alive", seconds.status().message());
    r->keep_alive_s = *seconds;
  }
  if (const json* o = c.Get(body, "options")) {
    if (!o->is_object()) return c.Fail("options", "options must be an object");
    c.Number(*o, "temperature", &s.temperature, "options.temperature", 0, 100);
    c.Integer(*o, "top_k", &s.top_k, "options.top_k", 0, 1 << 20);
    c.Number(*o, "top_p", &s.top_p, "options.top_p", 1e-9, 1);
    c.Number(*o, "min_p", &s.min_p, "options.min_p", 0, 1);
    c.Number(*o, "repeat_penalty", &s.repeat_penalty, "options.repeat_penalty", 1e-3, 10);
    c.Integer(*o, "repeat_last_n", &s.repeat_last_n, "options.repeat_last_n", -1, 1 << 20);
    c.Number(*o, "presence_penalty", &s.presence_penalty, "options.presence_penalty", -2, 2);
    c.Number(*o, "frequency_penalty", &s.frequency_penalty, "options.frequency_penalty", -2, 2);
    c.Seed(*o, "seed", &s.seed, "options.seed");
    c.Integer(*o, "num_predict", &r->generation.max_tokens, "options.num_predict", -2, context);
    if (r->generation.max_tokens < 0) r->generation.max_tokens = -1;  // -1 and -2: until the end
    c.Stop(*o, "stop", &r->generation.stop, "options.stop");
  } else {
    s.seed = std::random_device{}();
  }
  if (r->kind == ApiKind::kOllamaChat) {
    c.Messages(body, &r->messages);
  } else {
    c.String(body, "prompt", &r->prompt, "prompt");
    c.String(body, "system", &r->system, "system");
    c.Bool(body, "raw", &r->raw, "raw");
  }
}

}  // namespace

std::optional<ApiRequest> ParseApiRequest(ApiKind kind, const std::string& body, int64_t context, ApiError* error) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    *error = {400, "the request body is not valid JSON", "", ""};
    return std::nullopt;
  }
  if (!parsed.is_object()) {
    *error = {400, "the request body must be a JSON object", "", ""};
    return std::nullopt;
  }
  ApiRequest r;
  r.kind = kind;
  Checker c(parsed, error);
  if (kind == ApiKind::kOpenAiCompletion || kind == ApiKind::kOpenAiChat) {
    ParseOpenAi(&r, parsed, c, context);
  } else {
    ParseOllama(&r, parsed, c, context);
  }
  if (c.failed()) return std::nullopt;
  return r;
}

json OpenAiErrorBody(const ApiError& error) {
  const char* type = error.status >= 500 ? "server_error" : error.status == 401 ? "authentication_error"
                                                                               : "invalid_request_error";
  return {{"error",
           {{"message", error.message},
            {"type", type},
            {"param", error.param.empty() ? json(nullptr) : json(error.param)},
            {"code", error.code.empty() ? json(nullptr) : json(error.code)}}}};
}

json OllamaErrorBody(const ApiError& error) { return {{"error", error.message}}; }

}  // namespace riglm
