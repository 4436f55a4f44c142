#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "io/byte_source.h"
#include "io/mapped_file.h"
#include "util/large_buffer.h"

namespace riglm {
namespace {

constexpr uint64_t kDirectAlignment = 4096;

class FileSource : public ByteSource {
 public:
  FileSource(std::string path, int fd, int direct_fd, struct stat st)
      : path_(std::move(path)), fd_(fd), direct_fd_(direct_fd), stat_(st) {}
  ~FileSource() override {
    close(fd_);
    if (direct_fd_ >= 0) close(direct_fd_);
  }

  const std::string& name() const override { return path_; }
  uint64_t size() const override { return static_cast<uint64_t>(stat_.st_size); }

  Status ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    if (offset > size() || out.size() > size() - offset) {
      return Corruption(path_ + ": read of " + std::to_string(out.size()) + " bytes at " + std::to_string(offset) +
                        " is past the end of the file (" + std::to_string(size()) + " bytes)");
    }
    RIGLM_RETURN_IF_ERROR(direct_fd_ >= 0 ? ReadDirect(offset, out) : ReadBuffered(fd_, offset, out));
    return CheckUnchanged();
  }

  const uint8_t* mapped_data() override {
    std::lock_guard<std::mutex> lock(map_mutex_);
    if (!mapped_tried_) {
      mapped_tried_ = true;
      auto m = MappedFile::Open(path_);
      if (m.ok()) map_ = std::move(*m);
    }
    return map_.data();
  }

 private:
  Status ReadBuffered(int fd, uint64_t offset, std::span<uint8_t> out) const {
    uint64_t done = 0;
    while (done < out.size()) {
      const ssize_t n = pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError(path_ + ": read failed: " + std::strerror(errno));
      if (n == 0) return Corruption(path_ + ": the file ended early (was it truncated while loading?)");
      done += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  // O_DIRECT needs aligned offsets, sizes and memory: read the aligned cover of the range into a
  // bounce buffer of at most 8 MiB at a time.
  Status ReadDirect(uint64_t offset, std::span<uint8_t> out) {
    constexpr uint64_t kBounce = 8u << 20;
    LargeBuffer bounce = AllocateLarge(kBounce);
    if (bounce == nullptr) return OutOfMemory("no memory for a read buffer");
    uint64_t done = 0;
    while (done < out.size()) {
      const uint64_t start = offset + done;
      const uint64_t aligned = start / kDirectAlignment * kDirectAlignment;
      const uint64_t want = std::min<uint64_t>(out.size() - done, kBounce - (start - aligned));
      const uint64_t cover = (start - aligned + want + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
      const ssize_t n = pread(direct_fd_, bounce.get(), cover, static_cast<off_t>(aligned));
      if (n < 0 && errno == EINVAL) {  // this filesystem refuses O_DIRECT after all
        return ReadBuffered(fd_, start, out.subspan(done));
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError(path_ + ": read failed: " + std::strerror(errno));
      const uint64_t got = static_cast<uint64_t>(n) > start - aligned ? static_cast<uint64_t>(n) - (start - aligned) : 0;
      if (got == 0) return Corruption(path_ + ": the file ended early (was it truncated while loading?)");
      const uint64_t take = std::min(got, want);
      std::memcpy(out.data() + done, bounce.get() + (start - aligned), take);
      done += take;
    }
    return Status::Ok();
  }

  Status CheckUnchanged() const {
    struct stat now {};
    if (fstat(fd_, &now) != 0) return IoError(path_ + ": stat failed: " + std::strerror(errno));
    if (now.st_size != stat_.st_size || now.st_mtim.tv_sec != stat_.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != stat_.st_mtim.tv_nsec) {
      return Corruption(path_ + ": the file changed while it was being loaded; load it again");
    }
    return Status::Ok();
  }

  std::string path_;
  int fd_;
  int direct_fd_;
  struct stat stat_;
  std::mutex map_mutex_;
  bool mapped_tried_ = false;
  MappedFile map_;
};

}  // namespace

Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path, const SourceOptions& options) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return IoError(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return IoError(path + ": not a regular file");
  }
  const int direct_fd = options.direct_io ? open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT) : -1;
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ByteSource>(new FileSource(path, fd, direct_fd, st));
}

bool IsUrl(const std::string& location) {
  return location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0;
}

Result<std::unique_ptr<ByteSource>> OpenByteSource(const std::string& location, const SourceOptions& options) {
  if (IsUrl(location)) return OpenHttpSource(location, options);
  return OpenFileSource(location, options);
}

}  // namespace riglm
