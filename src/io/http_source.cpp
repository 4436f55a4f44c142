// HTTP(S) source over libcurl: the size and identity (ETag, Last-Modified) are read once, then
// every read is a Range request that must come back as 206 with the same identity. Transient
// failures (connection lost, short body, 5xx, 429) are retried with backoff, resuming after the
// bytes already received; everything else is an error that says what the server did.
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "io/byte_source.h"
#include "util/strings.h"

namespace riglm {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Headers of the final response (after redirects): reset at each status line.
struct ResponseHeaders {
  std::string etag, last_modified, content_range, accept_ranges;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* h = static_cast<ResponseHeaders*>(user);
  const std::string_view line(data, size * count);
  if (StartsWith(line, "HTTP/")) {
    *h = {};
    return size * count;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  const std::string key = ToLower(line.substr(0, colon));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  if (key == "etag") h->etag = value;
  if (key == "last-modified") h->last_modified = value;
  if (key == "content-range") h->content_range = value;
  if (key == "accept-ranges") h->accept_ranges = value;
  return size * count;
}

// Receives a body into a fixed span; more bytes than asked for abort the transfer.
struct BodySink {
  std::span<uint8_t> out;
  uint64_t received = 0;
  bool overflow = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t n = size * count;
  if (sink->received + n > sink->out.size()) {
    sink->overflow = true;
    return 0;
  }
  std::memcpy(sink->out.data() + sink->received, data, n);
  sink->received += n;
  return n;
}

size_t DiscardBody(char*, size_t size, size_t count, void*) { return size * count; }

struct Response {
  CURLcode curl = CURLE_OK;
  long http = 0;
  ResponseHeaders headers;
  std::string error;
};

bool TransientCurlError(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST: case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR: case CURLE_OPERATION_TIMEDOUT: case CURLE_GOT_NOTHING: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

bool TransientHttp(long code) { return code == 408 || code == 429 || code >= 500; }

class HttpSource : public ByteSource {
 public:
  HttpSource(std::string url, SourceOptions options) : url_(std::move(url)), options_(std::move(options)) {}
  ~HttpSource() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  const std::string& name() const override { return url_; }
  uint64_t size() const override { return size_; }

  Status Open() {
    for (int attempt = 0;; ++attempt) {
      Status s = Probe();
      if (s.ok() || s.code() != StatusCode::kUnavailable || attempt >= options_.max_retries) return s;
      Backoff(attempt);
    }
  }

  Status ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    if (offset > size_ || out.size() > size_ - offset) {
      return Corruption(url_ + ": read of " + std::to_string(out.size()) + " bytes at " + std::to_string(offset) +
                        " is past the end (" + std::to_string(size_) + " bytes)");
    }
    uint64_t got = 0;
    int attempt = 0;
    while (got < out.size()) {
      const uint64_t first = offset + got, last = offset + out.size() - 1;
      BodySink sink{out.subspan(got)};
      const Response r = Perform(std::to_string(first) + "-" + std::to_string(last), &sink);
      if (r.http == 200) {
        return Unsupported(url_ + ": the server ignores Range requests (it answered 200 with the whole file); "
                           "riglm streams models in ranges, so serve the file with a server that supports them");
      }
      if (r.http == 206) {
        if (!StartsWith(r.headers.content_range, "bytes " + std::to_string(first) + "-")) {
          return Corruption(url_ + ": asked for bytes from " + std::to_string(first) + ", the server sent '" +
                            r.headers.content_range + "'");
        }
        RIGLM_RETURN_IF_ERROR(CheckIdentity(r.headers));
        if (sink.overflow) return Corruption(url_ + ": the server sent more bytes than the range asked for");
        got += sink.received;  // a cut transfer keeps what arrived and resumes after it
        if (got == out.size()) break;
      } else if (r.http == 416) {
        return Corruption(url_ + ": the server says the range is past the end of the file; did the file change?");
      } else if (r.http != 0 && !TransientHttp(r.http)) {
        return IoError(url_ + ": HTTP " + std::to_string(r.http) + " for bytes " + std::to_string(first) + "-" +
                       std::to_string(last));
      } else if (r.curl != CURLE_OK && !TransientCurlError(r.curl) && r.http == 0) {
        return IoError(url_ + ": " + r.error);
      }
      if (++attempt > options_.max_retries) {
        return Unavailable(url_ + ": gave up after " + std::to_string(options_.max_retries) + " retries (" +
                           (r.http >= 400 ? "HTTP " + std::to_string(r.http) : r.error.empty() ? "short body" : r.error) +
                           ")");
      }
      Backoff(attempt - 1);
    }
    return Status::Ok();
  }

 private:
  // The size, and the ETag / Last-Modified that every later response must repeat.
  Status Probe() {
    std::vector<uint8_t> one(1);
    BodySink sink{std::span<uint8_t>(one)};
    const Response r = Perform("0-0", &sink);
    if (r.http == 0) return Unavailable(url_ + ": " + r.error);
    if (r.http == 401 || r.http == 403) {
      return IoError(url_ + ": access denied (HTTP " + std::to_string(r.http) +
                     "); if the model is gated or private, set a token (HF_TOKEN)");
    }
    if (r.http == 404) return NotFound(url_ + ": not found (HTTP 404)");
    if (TransientHttp(r.http)) return Unavailable(url_ + ": HTTP " + std::to_string(r.http));
    if (r.http == 200) {
      return Unsupported(url_ + ": the server ignores Range requests (it answered 200 with the whole file); "
                         "riglm streams models in ranges, so serve the file with a server that supports them");
    }
    if (r.http != 206) return IoError(url_ + ": unexpected HTTP " + std::to_string(r.http));
    const size_t slash = r.headers.content_range.rfind('/');
    if (slash == std::string::npos || r.headers.content_range.substr(slash + 1) == "*") {
      return IoError(url_ + ": the server did not say the file's size (Content-Range: '" + r.headers.content_range + "')");
    }
    size_ = std::strtoull(r.headers.content_range.c_str() + slash + 1, nullptr, 10);
    etag_ = r.headers.etag;
    last_modified_ = r.headers.last_modified;
    return Status::Ok();
  }

  Status CheckIdentity(const ResponseHeaders& h) const {
    const bool etag_changed = !etag_.empty() && !h.etag.empty() && h.etag != etag_;
    const bool date_changed = !last_modified_.empty() && !h.last_modified.empty() && h.last_modified != last_modified_;
    if (etag_changed || date_changed) {
      return Corruption(url_ + ": the file changed on the server while it was being loaded; load it again");
    }
    const size_t slash = h.content_range.rfind('/');
    if (slash != std::string::npos && h.content_range.substr(slash + 1) != std::to_string(size_)) {
      return Corruption(url_ + ": the file's size changed on the server while it was being loaded");
    }
    return Status::Ok();
  }

  Response Perform(const std::string& range, BodySink* sink) {
    CURL* h = Acquire();
    Response r;
    char error[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    if (!options_.bearer_token.empty()) {
      headers = curl_slist_append(headers, ("Authorization: Bearer " + options_.bearer_token).c_str());
    }
    curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink ? OnBody : DiscardBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);  // a stalled server counts as a lost connection
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "riglm/" RIGLM_VERSION);
    r.curl = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.http);
    if (r.curl != CURLE_OK) r.error = error[0] ? error : curl_easy_strerror(r.curl);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    Release(h);
    return r;
  }

  void Backoff(int attempt) const {
    const int ms = std::min(8000, options_.retry_base_ms << std::min(attempt, 10));
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }

  // Easy handles are reused so that connections stay open between chunks.
  CURL* Acquire() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return curl_easy_init();
    CURL* h = idle_.back();
    idle_.pop_back();
    curl_easy_reset(h);
    return h;
  }
  void Release(CURL* h) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(h);
  }

  std::string url_;
  SourceOptions options_;
  uint64_t size_ = 0;
  std::string etag_, last_modified_;
  std::mutex mutex_;
  std::vector<CURL*> idle_;
};

}  // namespace

Result<std::unique_ptr<ByteSource>> OpenHttpSource(const std::string& url, const SourceOptions& options) {
  GlobalInit();
  auto source = std::make_unique<HttpSource>(url, options);
  RIGLM_RETURN_IF_ERROR(source->Open());
  return std::unique_ptr<ByteSource>(std::move(source));
}

}  // namespace riglm
