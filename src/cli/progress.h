// Progress for long work: a redrawn bar with rate and ETA on a terminal, a line every few
// seconds otherwise (logs).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "format/gguf_writer.h"

namespace riglm::cli {

class Progress {
 public:
  explicit Progress(std::string label);
  void Update(uint64_t done_bytes, uint64_t total_bytes);
  void Finish();

 private:
  std::string label_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_, last_;
  uint64_t done_ = 0, total_ = 0;
  bool reported_complete_ = false;
};

// Writes a GGUF file with a progress display; returns the process exit code.
int WriteGgufWithProgress(const GgufWriter& writer, const std::string& path);

}  // namespace riglm::cli
