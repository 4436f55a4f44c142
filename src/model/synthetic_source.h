// A GGUF of any size that exists only as a function: the header of a synthetic model of some
// shape, followed by deterministic pseudo-random tensor bytes generated on demand. Loader tests
// and benchmarks stream tens of GiB through it without the disk space a real file would take.
// The tensor bytes are not valid weights; only loading is meant to touch them.
#pragma once

#include <memory>

#include "io/byte_source.h"
#include "model/shapes.h"

namespace riglm {

class SyntheticSource : public ByteSource {
 public:
  static Result<std::unique_ptr<SyntheticSource>> Create(const ModelShape& shape, const std::string& recipe,
                                                         uint64_t seed = 1);
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> out) override;

  // The 8-byte word of generated data starting at byte 8 * index of the file.
  uint64_t Word(uint64_t index) const;

 private:
  std::string name_;
  std::vector<uint8_t> header_;
  uint64_t size_ = 0;
  uint64_t seed_ = 0;
};

}  // namespace riglm
