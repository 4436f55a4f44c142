#include "loader/composed_source.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "tensor/quant.h"

namespace riglm {
namespace {

class ComposedSource : public ByteSource {
 public:
  struct Placed {
    ComposedTensor tensor;
    uint64_t offset = 0;  // in the presented file
    uint64_t size_bytes = 0;
    uint64_t cols = 0, rows = 0;
  };

  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> out) override;

  std::string name_;
  uint64_t size_ = 0;
  std::vector<uint8_t> header_;
  std::vector<std::unique_ptr<ByteSource>> sources_;
  std::vector<Placed> tensors_;  // by offset

 private:
  Status ReadTensor(const Placed& t, uint64_t offset, std::span<uint8_t> out);
};

Status ComposedSource::ReadAt(uint64_t offset, std::span<uint8_t> out) {
  if (offset > size_ || out.size() > size_ - offset) return InvalidArgument(name_ + ": read past the end");
  while (!out.empty()) {
    size_t n = 0;
    if (offset < header_.size()) {
      n = std::min<uint64_t>(out.size(), header_.size() - offset);
      std::memcpy(out.data(), header_.data() + offset, n);
    } else {
      // The first tensor ending after `offset`; bytes before it are alignment padding.
      auto it = std::upper_bound(tensors_.begin(), tensors_.end(), offset,
                                 [](uint64_t o, const Placed& t) { return o < t.offset + t.size_bytes; });
      const uint64_t next = it == tensors_.end() ? size_ : it->offset;
      if (offset < next) {
        n = std::min<uint64_t>(out.size(), next - offset);
        std::memset(out.data(), 0, n);
      } else {
        n = std::min<uint64_t>(out.size(), it->offset + it->size_bytes - offset);
        RIGLM_RETURN_IF_ERROR(ReadTensor(*it, offset - it->offset, out.first(n)));
      }
    }
    offset += n;
    out = out.subspan(n);
  }
  return Status::Ok();
}

// Converts whole rows in batches of a few MiB, so memory per reader stays small whatever the
// tensor's size.
Status ComposedSource::ReadTensor(const Placed& t, uint64_t offset, std::span<uint8_t> out) {
  ByteSource& source = *sources_[t.tensor.source];
  const DType from = t.tensor.source_type, to = t.tensor.type;
  if (from == to) return source.ReadAt(t.tensor.source_offset + offset, out);
  const uint64_t in_row = RowBytes(from, t.cols), out_row = RowBytes(to, t.cols);
  const uint64_t batch_rows = std::max<uint64_t>(1, (uint64_t{4} << 20) / in_row);
  std::vector<uint8_t> in, converted;
  std::vector<float> row(t.cols);
  uint64_t row_index = offset / out_row;
  uint64_t skip = offset % out_row;
  while (!out.empty()) {
    const uint64_t rows = std::min({batch_rows, t.rows - row_index, (skip + out.size() + out_row - 1) / out_row});
    in.resize(rows * in_row);
    converted.resize(rows * out_row);
    RIGLM_RETURN_IF_ERROR(source.ReadAt(t.tensor.source_offset + row_index * in_row, in));
    for (uint64_t r = 0; r < rows; ++r) {
      DequantizeRow(from, in.data() + r * in_row, row.data(), static_cast<int64_t>(t.cols));
      QuantizeRow(to, row.data(), converted.data() + r * out_row, static_cast<int64_t>(t.cols));
    }
    const size_t n = std::min<uint64_t>(out.size(), rows * out_row - skip);
    std::memcpy(out.data(), converted.data() + skip, n);
    out = out.subspan(n);
    row_index += rows;
    skip = 0;
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ByteSource>> ComposeGguf(std::string name, const GgufWriter& metadata,
                                                std::vector<ComposedTensor> tensors,
                                                std::vector<std::unique_ptr<ByteSource>> sources) {
  auto composed = std::make_unique<ComposedSource>();
  composed->name_ = std::move(name);
  GgufWriter w = metadata;
  w.ClearTensors();
  std::map<std::string, const ComposedTensor*> by_name;
  for (const ComposedTensor& t : tensors) {
    if (t.source < 0 || t.source >= static_cast<int>(sources.size())) return Internal("tensor '" + t.name + "' has no source");
    if (t.dims.empty()) return Corruption(composed->name_ + ": tensor '" + t.name + "' has no dimensions");
    if (t.type != t.source_type && (!CanDequantize(t.source_type) || !CanQuantize(t.type))) {
      return Unsupported(composed->name_ + ": tensor '" + t.name + "' cannot be converted from " +
                         std::string(DTypeName(t.source_type)) + " to " + std::string(DTypeName(t.type)));
    }
    uint64_t elements = 1;
    for (uint64_t d : t.dims) elements *= d;
    const uint64_t source_bytes = elements / t.dims[0] * RowBytes(t.source_type, t.dims[0]);
    const uint64_t size = sources[t.source]->size();
    if (t.source_offset > size || source_bytes > size - t.source_offset) {
      return Corruption(sources[t.source]->name() + ": tensor '" + t.name + "' lies past the end of the file (truncated?)");
    }
    if (!by_name.emplace(t.name, &t).second) return Corruption(composed->name_ + ": tensor '" + t.name + "' appears twice");
    w.AddTensor(t.name, t.type, t.dims, GgufWriter::RowSource{});
  }
  composed->header_ = w.HeaderBytes();
  composed->size_ = w.TotalBytes();
  // The presented file's offsets, as any GGUF reader will compute them.
  RIGLM_ASSIGN_OR_RETURN(GgufFile layout, GgufFile::Parse(composed->header_, composed->size_, composed->name_));
  for (const GgufTensorInfo& info : layout.tensors()) {
    ComposedSource::Placed p;
    p.tensor = *by_name.at(info.name);
    p.offset = layout.data_offset_bytes() + info.offset_bytes;
    p.size_bytes = info.size_bytes;
    p.cols = info.dims[0];
    p.rows = info.num_elements / info.dims[0];
    composed->tensors_.push_back(std::move(p));
  }
  std::sort(composed->tensors_.begin(), composed->tensors_.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  composed->sources_ = std::move(sources);
  return std::unique_ptr<ByteSource>(std::move(composed));
}

}  // namespace riglm
