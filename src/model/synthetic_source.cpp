#include "model/synthetic_source.h"

#include <algorithm>
#include <cstring>

#include "model/synthetic.h"

namespace riglm {

Result<std::unique_ptr<SyntheticSource>> SyntheticSource::Create(const ModelShape& shape, const std::string& recipe,
                                                                  uint64_t seed) {
  RIGLM_ASSIGN_OR_RETURN(QuantRecipe parsed, QuantRecipe::Parse(recipe));
  RIGLM_ASSIGN_OR_RETURN(GgufWriter writer, SyntheticModelWriter(shape, parsed, seed));
  auto source = std::unique_ptr<SyntheticSource>(new SyntheticSource());
  source->name_ = "synthetic:" + shape.name + ":" + parsed.name();
  source->header_ = writer.HeaderBytes();
  source->size_ = writer.TotalBytes();
  source->seed_ = seed;
  return source;
}

uint64_t SyntheticSource::Word(uint64_t index) const {
  // splitmix64 of the index: cheap, and every word differs.
  uint64_t z = index * 0x9E3779B97F4A7C15ull + seed_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Status SyntheticSource::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  if (offset > size_ || out.size() > size_ - offset) return Corruption(name_ + ": read past the end");
  uint64_t done = 0;
  if (offset < header_.size()) {
    done = std::min<uint64_t>(out.size(), header_.size() - offset);
    std::memcpy(out.data(), header_.data() + offset, done);
  }
  while (done < out.size()) {
    const uint64_t at = offset + done;
    const uint64_t word = Word(at / 8);
    const uint64_t skip = at % 8;
    const uint64_t take = std::min<uint64_t>(8 - skip, out.size() - done);
    std::memcpy(out.data() + done, reinterpret_cast<const uint8_t*>(&word) + skip, take);
    done += take;
  }
  return Status::Ok();
}

}  // namespace riglm
