#include "server/http_server.h"

#include <httplib.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <thread>

#include "server/api.h"
#include "server/client_socket.h"
#include "server/hub_routes.h"
#include "server/responses.h"

namespace riglm {

using json = nlohmann::ordered_json;

class HttpServer::Impl {
 public:
  Impl(ModelRegistry& models, ServerOptions options) : models_(models), o_(std::move(options)) {}

  Status Start(int* port) {
    const int threads = o_.http_threads > 0 ? o_.http_threads : 16;
    svr_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    svr_.set_payload_max_length(o_.max_body_bytes);
    svr_.set_read_timeout(o_.read_timeout_s, 0);
    svr_.set_write_timeout(o_.read_timeout_s, 0);
    svr_.set_keep_alive_timeout(5);
    // SO_REUSEADDR only: cpp-httplib's default SO_REUSEPORT lets a second server bind the same port
    // and silently take half the connections.
    svr_.set_socket_options([this](int fd) {
      const int yes = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_fd_ = fd;
    });
    Routes();
    if (o_.port == 0) {
      *port = svr_.bind_to_any_port(o_.host);
      if (*port < 0) return IoError("cannot listen on " + o_.host);
    } else {
      if (!svr_.bind_to_port(o_.host, o_.port)) {
        return IoError("cannot listen on " + o_.host + ":" + std::to_string(o_.port) + " (in use, or not allowed?)");
      }
      *port = o_.port;
    }
    // cpp-httplib 0.11 listens with a backlog of 5: in a burst of clients the rest lose their SYN and
    // wait a second to retry. Listening again on the bound socket raises it.
    if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    for (int i = 0; i < 5000 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (!svr_.is_running()) return IoError("the HTTP listener did not start");
    return Status::Ok();
  }

  bool Listening() const { return svr_.is_running(); }

  void Stop() {
    if (thread_.joinable()) {
      svr_.stop();
      thread_.join();
    }
  }

 private:
  static bool IsOllama(const httplib::Request& req) { return req.path.rfind("/api/", 0) == 0; }

  void SendError(const httplib::Request& req, httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    const json body = IsOllama(req) ? OllamaErrorBody(e) : OpenAiErrorBody(e);
    res.set_content(ToJsonText(body), "application/json");
    if (e.status == 503) res.set_header("Retry-After", "2");
  }

  bool Authorized(const httplib::Request& req) const {
    if (o_.api_key.empty() || req.path == "/health") return true;
    return req.get_header_value("Authorization") == "Bearer " + o_.api_key;
  }

  void Routes() {
    svr_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!o_.cors_origin.empty()) {
        res.set_header("Access-Control-Allow-Origin", o_.cors_origin);
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        if (req.method == "OPTIONS") {
          res.status = 204;
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      if (!Authorized(req)) {
        SendError(req, res, {401, "missing or wrong API key (send Authorization: Bearer <key>)", "invalid_api_key", ""});
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    svr_.set_logger([this](const httplib::Request& req, const httplib::Response& res) { Log(req, res); });
    svr_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      const std::string message = res.status == 404   ? "no such endpoint: " + req.method + " " + req.path
                                  : res.status == 413 ? "the request body is too large"
                                                      : "the request could not be handled";
      SendError(req, res, {res.status, message, "", ""});
    });
    svr_.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
      SendError(req, res, {500, "internal error", "", ""});
    });

    svr_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    svr_.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content("riglm is running", "text/plain"); });
    svr_.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(ToJsonText(json{{"version", RIGLM_VERSION}}), "application/json");
    });
    svr_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(ToJsonText(ModelsListBody(models_.List())), "application/json");
    });
    if (o_.hub) {
      AddHubRoutes(svr_, models_, *o_.hub, [this](const httplib::Request& req, httplib::Response& res, const ApiError& e) {
        SendError(req, res, e);
      });
    } else {
      svr_.Get("/api/tags", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(ToJsonText(OllamaTagsBody(models_.List())), "application/json");
      });
    }
    svr_.Get("/api/ps", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(ToJsonText(OllamaPsBody(models_.List())), "application/json");
    });
    svr_.Post("/api/show", [this](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body, nullptr, false);
      std::string name;
      if (body.is_object()) name = body.value("model", body.value("name", std::string()));
      if (!body.is_object() || name.empty()) return SendError(req, res, {400, "model is required", "", "model"});
      auto model = models_.Acquire(name);
      if (!model.ok()) return SendError(req, res, AcquireError(model.status()));
      res.set_content(ToJsonText(OllamaShowBody(**model)), "application/json");
      models_.Release(name, std::numeric_limits<double>::quiet_NaN());
    });
    svr_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(MetricsText(models_.List(), http_requests_.load(), http_errors_.load()), "text/plain; version=0.0.4");
    });
    svr_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      Generate(ApiKind::kOpenAiCompletion, req, res);
    });
    svr_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      Generate(ApiKind::kOpenAiChat, req, res);
    });
    svr_.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
      Generate(ApiKind::kOllamaGenerate, req, res);
    });
    svr_.Post("/api/chat", [this](const httplib::Request& req, httplib::Response& res) {
      Generate(ApiKind::kOllamaChat, req, res);
    });
  }

  void Log(const httplib::Request& req, const httplib::Response& res) {
    ++http_requests_;
    if (res.status >= 400) ++http_errors_;
    char line[512];
    std::snprintf(line, sizeof line, "{\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"remote\":\"%s\"}\n",
                  req.method.c_str(), req.path.c_str(), res.status, req.remote_addr.c_str());
    std::fputs(line, stderr);
  }

  static ApiError AcquireError(const Status& s) {
    if (s.code() == StatusCode::kNotFound) return {404, s.message(), "model_not_found", "model"};
    return {503, "cannot load the model: " + s.message(), "", "model"};
  }

  void Generate(ApiKind kind, const httplib::Request& req, httplib::Response& res) {
    ApiError error;
    std::optional<ApiRequest> parsed = ParseApiRequest(kind, req.body, o_.max_tokens_limit, &error);
    if (!parsed) return SendError(req, res, error);
    auto model = models_.Acquire(parsed->model);
    if (!model.ok()) return SendError(req, res, AcquireError(model.status()));
    const std::string name = (*model)->name;
    const double keep_alive = parsed->keep_alive_s;
    auto release = [this, name, keep_alive] { models_.Release(name, keep_alive); };
    // Ollama's way to load or unload a model: a generate request without a prompt.
    if (kind == ApiKind::kOllamaGenerate && parsed->prompt.empty() && parsed->system.empty()) {
      const bool unload = keep_alive == 0;
      release();
      res.set_content(ToJsonText({{"model", name}, {"created_at", ""}, {"response", ""}, {"done", true},
                                  {"done_reason", unload ? "unload" : "load"}}),
                      "application/json");
      return;
    }
    auto prompt = BuildPrompt(**model, *parsed);
    if (!prompt.ok()) {
      release();
      return SendError(req, res, {400, prompt.status().message(), "", ""});
    }
    parsed->generation.prompt = std::move(*prompt);
    auto handle = (*model)->scheduler->Submit(parsed->generation);
    if (!handle.ok()) {
      release();
      const int status = handle.status().code() == StatusCode::kUnavailable ? 503 : 400;
      return SendError(req, res, {status, handle.status().message(), "", ""});
    }
    auto stream = std::make_shared<ResponseStream>(*model, *parsed, *handle, release);
    if (!parsed->stream) {
      // Nothing is written until the end, so a client that left is noticed by polling its socket.
      const int client = FindClientSocket(req.remote_addr, req.remote_port);
      auto [status, body] = stream->Collect([client] { return client >= 0 && PeerHasGone(client); });
      res.status = status;
      res.set_content(ToJsonText(body), "application/json");
      return;
    }
    const bool ollama = kind == ApiKind::kOllamaGenerate || kind == ApiKind::kOllamaChat;
    res.set_chunked_content_provider(
        ollama ? "application/x-ndjson" : "text/event-stream",
        [stream](size_t, httplib::DataSink& sink) {
          std::string chunk;
          const bool finished = stream->NextChunk(&chunk);
          if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) {
            stream->Cancel();  // the client went away: free its sequence now
            return false;
          }
          if (finished) sink.done();
          return true;
        },
        [stream](bool success) {
          if (!success) stream->Cancel();
        });
  }

  ModelRegistry& models_;
  ServerOptions o_;
  httplib::Server svr_;
  std::thread thread_;
  int listen_fd_ = -1;
  std::atomic<uint64_t> http_requests_{0}, http_errors_{0};
};

HttpServer::HttpServer(ModelRegistry& models, ServerOptions options)
    : impl_(std::make_unique<Impl>(models, std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() { return impl_->Start(&port_); }

bool HttpServer::Listening() const { return impl_->Listening(); }

void HttpServer::Stop() {
  if (impl_) impl_->Stop();
}

}  // namespace riglm
