#include "server/model_registry.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace riglm {

namespace {
std::string BaseName(const std::string& name) {
  constexpr std::string_view kLatest = ":latest";
  if (name.size() > kLatest.size() && name.compare(name.size() - kLatest.size(), kLatest.size(), kLatest) == 0) {
    return name.substr(0, name.size() - kLatest.size());
  }
  return name;
}
}  // namespace

ModelRegistry::ModelRegistry(std::vector<std::pair<std::string, std::string>> models, Loader loader, double keep_alive_s)
    : loader_(std::move(loader)), default_keep_alive_s_(keep_alive_s) {
  for (auto& [name, path] : models) {
    Entry e;
    e.name = name;
    e.path = path;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) e.file_bytes = static_cast<uint64_t>(st.st_size);
    entries_.push_back(std::move(e));
  }
  reaper_ = std::thread([this] { ReapLoop(); });
}

ModelRegistry::ModelRegistry(std::unique_ptr<ServedModel> model) : default_keep_alive_s_(-1) {
  Entry e;
  e.name = model->name;
  e.path = model->path;
  e.file_bytes = model->model->gguf().file_size_bytes();
  e.model = std::move(model);
  entries_.push_back(std::move(e));
  reaper_ = std::thread([this] { ReapLoop(); });
}

ModelRegistry::~ModelRegistry() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  reaper_.join();
}

ModelRegistry::Entry* ModelRegistry::Find(const std::string& name) {
  if (entries_.empty()) return nullptr;
  if (name.empty()) return &entries_.front();
  for (Entry& e : entries_) {
    if (e.name == name || e.name == BaseName(name)) return &e;
  }
  return nullptr;
}

Result<bool> ModelRegistry::Forget(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (name.empty()) return false;
  Entry* e = Find(name);
  if (e == nullptr) return false;
  if (e->in_flight > 0) return Unavailable("model '" + e->name + "' is in use by " + std::to_string(e->in_flight) + " request(s)");
  entries_.erase(entries_.begin() + (e - entries_.data()));
  return true;
}

std::string ModelRegistry::Names() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const Entry& e : entries_) out += (out.empty() ? "" : ", ") + e.name;
  return out;
}

Status ModelRegistry::LoadAll() {
  for (size_t i = 0; i < entries_.size(); ++i) {
    RIGLM_ASSIGN_OR_RETURN(auto model, Acquire(entries_[i].name));
    Release(entries_[i].name, std::numeric_limits<double>::quiet_NaN());
  }
  return Status::Ok();
}

Result<std::shared_ptr<ServedModel>> ModelRegistry::Acquire(const std::string& name) {
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry* e = Find(name);
    known = e != nullptr;
    if (e != nullptr && e->model) {
      ++e->in_flight;
      return e->model;
    }
  }
  if (!known) {
    std::string message = "model '" + name + "' not found (this server has: " + Names() + ")";
    if (!resolver_) return NotFound(message);
    Result<std::string> path = resolver_(BaseName(name));
    if (!path.ok()) {
      if (path.status().code() == StatusCode::kNotFound) return NotFound(message + "; pull it first (POST /api/pull)");
      return path.status();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (Find(name) == nullptr) {
      Entry e;
      e.name = BaseName(name);
      e.path = *path;
      struct stat st {};
      if (stat(e.path.c_str(), &st) == 0) e.file_bytes = static_cast<uint64_t>(st.st_size);
      entries_.push_back(std::move(e));
    }
  }
  std::lock_guard<std::mutex> loading(load_mutex_);
  std::string entry_name, path;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry* e = Find(name);
    if (e == nullptr) return NotFound("model '" + name + "' was deleted");
    if (e->model) {  // loaded by another request meanwhile
      ++e->in_flight;
      return e->model;
    }
    entry_name = e->name;
    path = e->path;
  }
  if (!loader_) return Unavailable("model '" + entry_name + "' was unloaded and cannot be loaded again here");
  RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<ServedModel> loaded, loader_(entry_name, path));
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* e = Find(entry_name);
  if (e == nullptr) return NotFound("model '" + name + "' was deleted while it loaded");
  e->model = std::move(loaded);
  e->model->loaded_at = Clock::now();
  e->expires_at = Clock::time_point::max();
  ++e->in_flight;
  return e->model;
}

void ModelRegistry::SetExpiry(Entry& e, double keep_alive_s) {
  if (std::isnan(keep_alive_s)) keep_alive_s = default_keep_alive_s_;
  if (keep_alive_s < 0) {
    e.expires_at = Clock::time_point::max();
  } else {
    e.expires_at = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(keep_alive_s * 1000));
  }
}

void ModelRegistry::Release(const std::string& name, double keep_alive_s) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry* e = Find(name);
    if (e == nullptr) return;
    if (e->in_flight > 0) --e->in_flight;
    SetExpiry(*e, keep_alive_s);
  }
  wake_.notify_all();
}

std::vector<ModelRegistry::Entry> ModelRegistry::List() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_;
}

void ModelRegistry::ReapLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    const auto now = Clock::now();
    for (Entry& e : entries_) {
      // The registry lets go; a request that still holds the model keeps it until it ends.
      if (e.model && e.in_flight == 0 && e.expires_at <= now) e.model.reset();
    }
    wake_.wait_for(lock, std::chrono::milliseconds(200));
  }
}

Result<double> ParseKeepAlive(const std::string& text) {
  if (text.empty()) return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  const double plain = std::strtod(text.c_str(), &end);
  if (end != text.c_str() && *end == '\0') return plain < 0 ? -1.0 : plain;
  if (!text.empty() && text[0] == '-') return -1.0;
  double total = 0.0;
  const char* p = text.c_str();
  while (*p != '\0') {
    const double value = std::strtod(p, &end);
    if (end == p) return InvalidArgument("keep_alive '" + text + "' is not a duration (e.g. 5m, 30s, 1h)");
    p = end;
    double unit = 0.0;
    if (std::strncmp(p, "ms", 2) == 0) {
      unit = 1e-3;
      p += 2;
    } else if (*p == 's') {
      unit = 1;
      ++p;
    } else if (*p == 'm') {
      unit = 60;
      ++p;
    } else if (*p == 'h') {
      unit = 3600;
      ++p;
    } else {
      return InvalidArgument("keep_alive '" + text + "' is not a duration (e.g. 5m, 30s, 1h)");
    }
    total += value * unit;
  }
  return total;
}

}  // namespace riglm
