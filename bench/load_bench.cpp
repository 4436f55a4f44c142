// Load throughput of the streaming loader from a file or URL into a device that discards what it
// receives (so only the source and the loader are measured), next to a plain sequential read of
// the same tensor bytes. Usage: load_bench LOCATION [BUFFER_MIB] [READERS] [drop|keep] [QUANT]
// With `drop` (as root), the page cache is dropped before each pass so both read the disk.
// LOCATION may be a Hugging Face folder (safetensors), quantized on the fly when QUANT is given.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include "loader/gguf_header.h"
#include "loader/loader.h"
#include "loader/model_loader.h"
#include "util/process_stats.h"
#include "util/strings.h"

namespace {

class DiscardSink : public riglm::TensorSink {
 public:
  const std::string& name() const override { return name_; }
  riglm::Status Prepare(const riglm::GgufTensorInfo&) override { return riglm::Status::Ok(); }
  riglm::Status Write(const riglm::GgufTensorInfo&, uint64_t, std::span<const uint8_t>) override {
    return riglm::Status::Ok();
  }

 private:
  std::string name_ = "discard";
};


void MaybeDropCaches(bool drop) {
  if (!drop) return;
  sync();
  std::ofstream control("/proc/sys/vm/drop_caches");
  control << "3\n";
  if (!control) std::fprintf(stderr, "(could not drop the page cache: needs root)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: load_bench FILE_URL_OR_FOLDER [BUFFER_MIB] [READERS] [drop|keep] [QUANT]\n");
    return 2;
  }
  riglm::ModelLoadOptions open_options;
  if (argc > 5) open_options.quant = argv[5];
  auto source = riglm::OpenModelSource(argv[1], open_options);
  if (!source.ok()) return std::fprintf(stderr, "%s\n", source.status().ToString().c_str()), 1;
  auto gguf = riglm::ReadGgufHeader(**source);
  if (!gguf.ok()) return std::fprintf(stderr, "%s\n", gguf.status().ToString().c_str()), 1;
  DiscardSink sink;
  std::vector<riglm::TensorPlacement> placements;
  for (const riglm::GgufTensorInfo& t : gguf->tensors()) placements.push_back({&t, &sink});
  riglm::LoadOptions options;
  if (argc > 2) options.buffer_bytes = std::strtoull(argv[2], nullptr, 10) << 20;
  if (argc > 3) options.readers = std::atoi(argv[3]);
  const bool drop = argc > 4 && std::string(argv[4]) == "drop";
  MaybeDropCaches(drop);
  auto stats = riglm::StreamTensors(**source, *gguf, placements, options);
  if (!stats.ok()) return std::fprintf(stderr, "%s\n", stats.status().ToString().c_str()), 1;
  std::printf("loader:     %s in %.2f s = %.0f MB/s (%d readers, %s staging), peak RSS %s\n",
              riglm::FormatBytes(stats->bytes).c_str(), stats->seconds, stats->bytes / stats->seconds / 1e6,
              options.readers, riglm::FormatBytes(stats->staging_bytes).c_str(), riglm::FormatBytes(riglm::PeakResidentBytes()).c_str());

  MaybeDropCaches(drop);
  const auto start = std::chrono::steady_clock::now();
  std::vector<uint8_t> buffer(16u << 20);
  uint64_t total = 0;
  for (uint64_t at = gguf->data_offset_bytes(); at < (*source)->size();) {
    const uint64_t n = std::min<uint64_t>(buffer.size(), (*source)->size() - at);
    if (!(*source)->ReadAt(at, std::span<uint8_t>(buffer.data(), n)).ok()) return 1;
    at += n;
    total += n;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sequential: %s in %.2f s = %.0f MB/s (one reader, 16 MiB reads)\n", riglm::FormatBytes(total).c_str(),
              seconds, total / seconds / 1e6);
  return 0;
}
