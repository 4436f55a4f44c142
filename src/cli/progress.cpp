#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include "cli/common.h"
#include "util/strings.h"

namespace riglm::cli {

Progress::Progress(std::string label)
    : label_(std::move(label)), terminal_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::Update(uint64_t done, uint64_t total) {
  done_ = done;
  total_ = total;
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  if (since_last < (terminal_ ? 0.2 : 5.0) && done < total) return;
  if (done >= total && reported_complete_) return;
  reported_complete_ = done >= total;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  const int percent = total > 0 ? static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)) : 100;
  if (terminal_) {
    const int width = 30, filled = percent * width / 100;
    std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %s/%s %.1f MB/s ETA %.0fs   ", label_.c_str(), filled,
                 "##############################", width - filled, "", percent, FormatBytes(done).c_str(),
                 FormatBytes(total).c_str(), rate / 1e6, eta);
  } else {
    std::fprintf(stderr, "%s: %d%% (%s of %s, %.1f MB/s)\n", label_.c_str(), percent, FormatBytes(done).c_str(),
                 FormatBytes(total).c_str(), rate / 1e6);
  }
}

void Progress::Finish() {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s: %s in %.1f s (%.1f MB/s)\n", terminal_ ? "\r" : "", label_.c_str(),
               FormatBytes(done_).c_str(), elapsed, elapsed > 0 ? static_cast<double>(done_) / elapsed / 1e6 : 0.0);
}

int WriteGgufWithProgress(const GgufWriter& writer, const std::string& path) {
  Progress progress("writing " + path);
  Status s = writer.WriteFile(path, 16 << 20, [&](uint64_t done, uint64_t total) { progress.Update(done, total); });
  if (!s.ok()) return ReportError(s);
  progress.Finish();
  return 0;
}

}  // namespace riglm::cli
