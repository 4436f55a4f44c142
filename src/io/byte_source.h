// Where a model's bytes come from: a local file, an HTTP(S) URL read with range requests, or
// (for tests and benchmarks) bytes generated on the fly. The loader reads any of them in chunks
// from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "util/status.h"

namespace riglm {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual const std::string& name() const = 0;  // path or URL, for messages
  virtual uint64_t size() const = 0;
  // Fills `out` with bytes [offset, offset + out.size()): all of them, or an error that says
  // why not (short read, source changed, server misbehaving). Safe to call from several threads.
  virtual Status ReadAt(uint64_t offset, std::span<uint8_t> out) = 0;
  // The whole content mapped in memory, when the source is a local file the CPU can use in
  // place; null otherwise.
  virtual const uint8_t* mapped_data() { return nullptr; }
};

struct SourceOptions {
  bool direct_io = false;       // local files: O_DIRECT (bypasses the page cache), when possible
  int max_retries = 5;          // HTTP: transient errors (connection lost, 5xx, short body)
  int retry_base_ms = 250;      // HTTP: first backoff, doubled per retry, capped at 8 s
  long connect_timeout_s = 20;  // HTTP
  std::string bearer_token;     // HTTP: sent as Authorization: Bearer (e.g. HF_TOKEN)
};

bool IsUrl(const std::string& location);  // http:// or https://

// A local file (NotFound / IoError name the path) or an http(s) URL (its size and identity are
// fetched first; the server must support Range requests).
Result<std::unique_ptr<ByteSource>> OpenByteSource(const std::string& location, const SourceOptions& options = {});
Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path, const SourceOptions& options = {});
Result<std::unique_ptr<ByteSource>> OpenHttpSource(const std::string& url, const SourceOptions& options = {});

}  // namespace riglm
