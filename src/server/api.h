// The OpenAI and Ollama request bodies, parsed and checked into one form the server runs, and
// the errors each API expects (OpenAI's {"error": {...}} with its status codes; Ollama's
// {"error": "..."}). Every field is type-checked and range-checked here, so a bad request is
// answered with a clear 4xx before it reaches the scheduler.
#pragma once

#include <limits>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "server/scheduler.h"

namespace riglm {

enum class ApiKind { kOpenAiCompletion, kOpenAiChat, kOllamaGenerate, kOllamaChat };

struct ApiError {
  int status = 400;
  std::string message;
  std::string code;   // OpenAI "code", e.g. "model_not_found"; may be empty
  std::string param;  // the offending field, when there is one
};

struct ApiRequest {
  ApiKind kind = ApiKind::kOpenAiCompletion;
  std::string model;                   // as the client named it (may be empty)
  std::string prompt;                  // completion / generate
  nlohmann::ordered_json messages;     // chat: [{role, content}], contents flattened to strings
  std::string system;                  // Ollama generate: system prompt
  bool raw = false;                    // Ollama generate: no template
  bool stream = false;
  bool include_usage = false;          // OpenAI stream_options.include_usage
  double keep_alive_s = std::numeric_limits<double>::quiet_NaN();  // Ollama keep_alive; NaN when absent
  GenerationRequest generation;        // sampling, max_tokens, stop (prompt tokens filled later)
};

// Parses a body for `kind`. `context` bounds max_tokens / num_predict.
std::optional<ApiRequest> ParseApiRequest(ApiKind kind, const std::string& body, int64_t context, ApiError* error);

// Error bodies.
nlohmann::ordered_json OpenAiErrorBody(const ApiError& error);
nlohmann::ordered_json OllamaErrorBody(const ApiError& error);

}  // namespace riglm
