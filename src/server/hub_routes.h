// Ollama's model-management endpoints over the Hugging Face cache: GET /api/tags lists the
// served models and every model in the cache, POST /api/pull downloads one (streaming progress
// as NDJSON), DELETE /api/delete removes one. Models in the cache load on their first request.
#pragma once

#include <functional>

#include "hub/hub_client.h"
#include "server/model_registry.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace riglm {

struct ApiError;
using ErrorSender = std::function<void(const httplib::Request&, httplib::Response&, const ApiError&)>;

void AddHubRoutes(httplib::Server& server, ModelRegistry& models, const HubOptions& hub, ErrorSender send_error);

}  // namespace riglm
