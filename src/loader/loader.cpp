#include "loader/loader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "util/large_buffer.h"

namespace riglm {
namespace {

struct Piece {
  const GgufTensorInfo* tensor;
  uint64_t tensor_offset;  // within the tensor's data
  uint64_t chunk_offset;   // within the chunk
  uint64_t size;
};

// A contiguous file range bound for one sink (small alignment gaps between tensors included).
struct Chunk {
  uint64_t file_offset = 0;
  uint64_t size = 0;
  size_t sink = 0;
  std::vector<Piece> pieces;
};

constexpr uint64_t kMaxGap = 4096;

std::vector<Chunk> BuildChunks(const GgufFile& gguf, std::vector<TensorPlacement> placements,
                               const std::vector<TensorSink*>& sinks, uint64_t chunk_size) {
  std::sort(placements.begin(), placements.end(),
            [](const TensorPlacement& a, const TensorPlacement& b) { return a.tensor->offset_bytes < b.tensor->offset_bytes; });
  std::vector<Chunk> chunks;
  for (const TensorPlacement& p : placements) {
    const size_t sink = std::find(sinks.begin(), sinks.end(), p.sink) - sinks.begin();
    const uint64_t start = gguf.data_offset_bytes() + p.tensor->offset_bytes;
    for (uint64_t done = 0; done < p.tensor->size_bytes;) {
      const uint64_t at = start + done;
      Chunk* last = chunks.empty() ? nullptr : &chunks.back();
      const uint64_t last_end = last ? last->file_offset + last->size : 0;
      if (last && last->sink == sink && at >= last_end && at - last_end <= kMaxGap && at - last->file_offset < chunk_size) {
        const uint64_t take = std::min(p.tensor->size_bytes - done, chunk_size - (at - last->file_offset));
        last->pieces.push_back({p.tensor, done, at - last->file_offset, take});
        last->size = at + take - last->file_offset;
        done += take;
      } else {
        Chunk c;
        c.file_offset = at;
        c.sink = sink;
        const uint64_t take = std::min(p.tensor->size_bytes - done, chunk_size);
        c.pieces.push_back({p.tensor, done, 0, take});
        c.size = take;
        chunks.push_back(std::move(c));
        done += take;
      }
    }
  }
  return chunks;
}

class StreamingLoad {
 public:
  StreamingLoad(ByteSource& source, std::vector<Chunk> chunks, std::vector<TensorSink*> sinks, const LoadOptions& options,
                uint64_t chunk_size, uint64_t total)
      : source_(source), chunks_(std::move(chunks)), sinks_(std::move(sinks)), options_(options),
        chunk_size_(chunk_size), total_(total), queues_(sinks_.size()), remaining_(sinks_.size(), 0) {
    for (const Chunk& c : chunks_) ++remaining_[c.sink];
  }

  Status Run() {
    std::vector<std::thread> threads;
    const int readers = std::max(1, std::min<int>(options_.readers, static_cast<int>(chunks_.size())));
    for (int i = 0; i < readers; ++i) threads.emplace_back([this] { ReadLoop(); });
    for (size_t s = 0; s < sinks_.size(); ++s) threads.emplace_back([this, s] { UploadLoop(s); });
    for (std::thread& t : threads) t.join();
    return error_;
  }

  uint64_t staging_bytes() const { return buffers_.size() * chunk_size_; }

 private:
  void Fail(Status s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_.ok()) error_ = std::move(s);
    failed_ = true;
    changed_.notify_all();
  }

  // A free staging buffer, allocating up to the configured count; -1 once the load failed.
  int AcquireBuffer() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return failed_ || !free_.empty() || static_cast<int>(buffers_.size()) < options_.buffers; });
    if (failed_) return -1;
    if (!free_.empty()) {
      const int b = free_.back();
      free_.pop_back();
      return b;
    }
    LargeBuffer buffer = AllocateLarge(chunk_size_);
    if (buffer == nullptr) return -1;
    buffers_.push_back(std::move(buffer));
    return static_cast<int>(buffers_.size()) - 1;
  }

  void ReadLoop() {
    while (true) {
      const size_t index = next_chunk_.fetch_add(1);
      if (index >= chunks_.size()) return;
      if (options_.cancel != nullptr && options_.cancel->load()) return Fail(Cancelled("loading was interrupted"));
      const int b = AcquireBuffer();
      if (b < 0) {
        Fail(OutOfMemory("no memory for a " + std::to_string(chunk_size_ >> 20) + " MiB staging buffer"));
        return;
      }
      const Chunk& c = chunks_[index];
      Status s = source_.ReadAt(c.file_offset, std::span<uint8_t>(buffers_[b].get(), c.size));
      if (!s.ok()) return Fail(std::move(s));
      std::lock_guard<std::mutex> lock(mutex_);
      queues_[c.sink].push_back({index, b});
      changed_.notify_all();
    }
  }

  void UploadLoop(size_t sink) {
    while (true) {
      std::pair<size_t, int> item;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (remaining_[sink] == 0) return;
        changed_.wait(lock, [&] { return failed_ || !queues_[sink].empty(); });
        if (failed_) return;
        item = queues_[sink].front();
        queues_[sink].pop_front();
      }
      const Chunk& c = chunks_[item.first];
      const uint8_t* data = buffers_[item.second].get();
      for (const Piece& p : c.pieces) {
        Status s = sinks_[sink]->Write(*p.tensor, p.tensor_offset, std::span<const uint8_t>(data + p.chunk_offset, p.size));
        if (!s.ok()) return Fail(std::move(s));
      }
      uint64_t done;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.push_back(item.second);
        --remaining_[sink];
        done_ += c.size;
        done = done_;
        changed_.notify_all();
      }
      if (options_.progress) {
        std::lock_guard<std::mutex> lock(progress_mutex_);
        options_.progress(std::min(done, total_), total_);
      }
    }
  }

  ByteSource& source_;
  std::vector<Chunk> chunks_;
  std::vector<TensorSink*> sinks_;
  const LoadOptions& options_;
  uint64_t chunk_size_;
  uint64_t total_;
  std::atomic<size_t> next_chunk_{0};
  std::mutex mutex_, progress_mutex_;
  std::condition_variable changed_;
  std::vector<LargeBuffer> buffers_;  // grows to options.buffers, never past it
  std::vector<int> free_;
  std::vector<std::deque<std::pair<size_t, int>>> queues_;
  std::vector<size_t> remaining_;
  uint64_t done_ = 0;
  bool failed_ = false;
  Status error_;
};

}  // namespace

Result<LoadStats> StreamTensors(ByteSource& source, const GgufFile& gguf, std::span<const TensorPlacement> placements,
                                const LoadOptions& options) {
  if (options.buffers < 2) return InvalidArgument("the loader needs at least 2 staging buffers");
  const uint64_t chunk_size = options.buffer_bytes / static_cast<uint64_t>(options.buffers) / 4096 * 4096;
  if (chunk_size < (1u << 20)) return InvalidArgument("the load buffer must be at least " + std::to_string(options.buffers) + " MiB");
  std::vector<TensorSink*> sinks;
  uint64_t total = 0;
  for (const TensorPlacement& p : placements) {
    const uint64_t end = gguf.data_offset_bytes() + p.tensor->offset_bytes + p.tensor->size_bytes;
    if (end > source.size()) {
      return Corruption(source.name() + ": tensor '" + p.tensor->name + "' ends at byte " + std::to_string(end) +
                        ", past the end of the source (" + std::to_string(source.size()) + " bytes)");
    }
    if (std::find(sinks.begin(), sinks.end(), p.sink) == sinks.end()) sinks.push_back(p.sink);
    total += p.tensor->size_bytes;
  }
  for (const TensorPlacement& p : placements) RIGLM_RETURN_IF_ERROR(p.sink->Prepare(*p.tensor));
  const auto start = std::chrono::steady_clock::now();
  std::vector<Chunk> chunks = BuildChunks(gguf, std::vector<TensorPlacement>(placements.begin(), placements.end()), sinks, chunk_size);
  uint64_t chunk_total = 0;
  for (const Chunk& c : chunks) chunk_total += c.size;
  StreamingLoad load(source, std::move(chunks), sinks, options, chunk_size, chunk_total);
  RIGLM_RETURN_IF_ERROR(load.Run());
  LoadStats stats;
  stats.bytes = total;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.staging_bytes = load.staging_bytes();
  return stats;
}

}  // namespace riglm
