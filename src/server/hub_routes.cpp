#include "server/hub_routes.h"

#include <httplib.h>

#include <condition_variable>
#include <thread>

#include "hub/hub_pull.h"
#include "server/api.h"
#include "server/responses.h"

namespace riglm {
namespace {

using json = nlohmann::ordered_json;

// A pull running on its own thread, watched by a streaming response. Destroying it (the
// response finished or the client left) stops the download; a later pull resumes it.
struct PullJob {
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t done = 0, total = 0;
  bool finished = false;
  Status status;
  std::atomic<bool> cancel{false};
  std::thread thread;
  int lines_sent = 0;

  ~PullJob() {
    cancel = true;
    if (thread.joinable()) thread.join();
  }
};

std::string Line(const json& j) { return ToJsonText(j) + "\n"; }

std::string RequestedName(const httplib::Request& req, std::string* error) {
  json body = json::parse(req.body, nullptr, false);
  std::string name;
  if (body.is_object()) {
    const json& m = body.contains("model") ? body["model"] : body.contains("name") ? body["name"] : json();
    if (m.is_string()) name = m.get<std::string>();
  }
  if (!body.is_object()) *error = "the body is not a JSON object";
  else if (name.empty()) *error = "model is required";
  return name;
}

bool WantsStream(const httplib::Request& req) {
  json body = json::parse(req.body, nullptr, false);
  return !body.is_object() || !body.contains("stream") || !body["stream"].is_boolean() || body["stream"].get<bool>();
}

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound: return 404;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnavailable: return 502;
    default: return 500;
  }
}

}  // namespace

void AddHubRoutes(httplib::Server& svr, ModelRegistry& models, const HubOptions& hub, ErrorSender send_error) {
  models.SetResolver([hub](const std::string& name) -> Result<std::string> {
    if (!LooksLikeModelRef(name)) return NotFound(name);
    RIGLM_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(name));
    RIGLM_ASSIGN_OR_RETURN(PulledModel cached, FindCachedModel(ref, hub));
    return cached.location;
  });

  svr.Get("/api/tags", [&models, hub](const httplib::Request&, httplib::Response& res) {
    const std::vector<ModelRegistry::Entry> served = models.List();
    json body = OllamaTagsBody(served);
    for (const CachedModel& m : ListCachedModels(HubCache(hub.cache_dir))) {
      const bool listed = std::any_of(served.begin(), served.end(), [&](const auto& e) { return e.name == m.name || e.path == m.location; });
      if (listed) continue;
      body["models"].push_back({{"name", OllamaName(m.name)},
                                {"model", OllamaName(m.name)},
                                {"modified_at", Rfc3339(std::chrono::system_clock::from_time_t(m.modified))},
                                {"size", m.bytes},
                                {"digest", m.commit},
                                {"details", {{"format", m.format}}}});
    }
    res.set_content(ToJsonText(body), "application/json");
  });

  svr.Post("/api/pull", [hub, send_error](const httplib::Request& req, httplib::Response& res) {
    std::string error;
    const std::string name = RequestedName(req, &error);
    if (!error.empty()) return send_error(req, res, {400, error, "", "model"});
    Result<ModelRef> ref = ParseModelRef(name);
    if (!ref.ok()) return send_error(req, res, {400, ref.status().message(), "", "model"});
    if (!WantsStream(req)) {
      Result<PulledModel> pulled = PullModel(*ref, hub);
      if (!pulled.ok()) return send_error(req, res, {HttpStatusFor(pulled.status()), pulled.status().message(), "", "model"});
      res.set_content(Line({{"status", "success"}}), "application/json");
      return;
    }
    auto job = std::make_shared<PullJob>();
    PullJob* raw = job.get();
    raw->thread = std::thread([raw, hub, ref = *ref] {
      HubOptions options = hub;
      options.cancel = &raw->cancel;
      options.progress = [raw](uint64_t done, uint64_t total) {
        std::lock_guard<std::mutex> lock(raw->mutex);
        raw->done = done;
        raw->total = total;
        raw->changed.notify_all();
      };
      Result<PulledModel> pulled = PullModel(ref, options);
      std::lock_guard<std::mutex> lock(raw->mutex);
      raw->status = pulled.status();
      if (pulled.ok()) raw->done = raw->total = pulled->bytes;
      raw->finished = true;
      raw->changed.notify_all();
    });
    const std::string label = "pulling " + ref->ToString();
    res.set_chunked_content_provider("application/x-ndjson", [job, label](size_t, httplib::DataSink& sink) {
      std::string out;
      bool finished = false;
      {
        std::unique_lock<std::mutex> lock(job->mutex);
        if (job->lines_sent == 0) {
          out += Line({{"status", "pulling manifest"}});
        } else {
          job->changed.wait_for(lock, std::chrono::milliseconds(500));
        }
        finished = job->finished;
        if (job->total > 0 || finished) {
          out += Line({{"status", label}, {"digest", label.substr(8)}, {"total", job->total}, {"completed", job->done}});
        }
        if (finished) {
          out += job->status.ok() ? Line({{"status", "verifying sha256 digest"}}) + Line({{"status", "success"}})
                                  : Line({{"error", job->status.message()}});
        }
        ++job->lines_sent;
      }
      if (!sink.write(out.data(), out.size())) return false;  // the client left: ~PullJob stops the pull
      if (finished) sink.done();
      return true;
    });
  });

  svr.Delete("/api/delete", [&models, hub, send_error](const httplib::Request& req, httplib::Response& res) {
    std::string error;
    const std::string name = RequestedName(req, &error);
    if (!error.empty()) return send_error(req, res, {400, error, "", "model"});
    Result<ModelRef> ref = ParseModelRef(name);
    if (!ref.ok()) {
      return send_error(req, res, {400, "only models in the Hugging Face cache can be deleted; '" + name + "' is not one", "", "model"});
    }
    const std::string plain = name.size() > 7 && name.ends_with(":latest") ? name.substr(0, name.size() - 7) : name;
    Result<bool> forgotten = models.Forget(plain);
    if (!forgotten.ok()) return send_error(req, res, {409, forgotten.status().message(), "", "model"});
    Result<uint64_t> freed = RemoveCachedModel(HubCache(hub.cache_dir), *ref);
    if (!freed.ok()) {
      if (freed.status().code() == StatusCode::kNotFound) return send_error(req, res, {404, "model '" + name + "' not found", "", "model"});
      return send_error(req, res, {500, freed.status().message(), "", "model"});
    }
    res.status = 200;
  });
}

}  // namespace riglm
