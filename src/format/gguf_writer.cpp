#include "format/gguf_writer.h"

#include <cstring>
#include <algorithm>
#include <fstream>

namespace riglm {
namespace {

template <typename T>
void AppendPod(T value, std::vector<uint8_t>* out) {
  const size_t at = out->size();
  out->resize(at + sizeof(T));
  std::memcpy(out->data() + at, &value, sizeof(T));
}

void AppendString(const std::string& s, std::vector<uint8_t>* out) {
  AppendPod<uint64_t>(s.size(), out);
  const size_t at = out->size();
  out->resize(at + s.size());
  if (!s.empty()) std::memcpy(out->data() + at, s.data(), s.size());
}

}  // namespace

void AppendGgufValue(const GgufValue& v, std::vector<uint8_t>* out) {
  auto u = [&] { return std::get<uint64_t>(v.data); };
  auto i = [&] { return std::get<int64_t>(v.data); };
  auto f = [&] { return std::get<double>(v.data); };
  switch (v.type) {
    case GgufType::kUint8: AppendPod<uint8_t>(static_cast<uint8_t>(u()), out); break;
    case GgufType::kUint16: AppendPod<uint16_t>(static_cast<uint16_t>(u()), out); break;
    case GgufType::kUint32: AppendPod<uint32_t>(static_cast<uint32_t>(u()), out); break;
    case GgufType::kUint64: AppendPod<uint64_t>(u(), out); break;
    case GgufType::kInt8: AppendPod<int8_t>(static_cast<int8_t>(i()), out); break;
    case GgufType::kInt16: AppendPod<int16_t>(static_cast<int16_t>(i()), out); break;
    case GgufType::kInt32: AppendPod<int32_t>(static_cast<int32_t>(i()), out); break;
    case GgufType::kInt64: AppendPod<int64_t>(i(), out); break;
    case GgufType::kFloat32: AppendPod<float>(static_cast<float>(f()), out); break;
    case GgufType::kFloat64: AppendPod<double>(f(), out); break;
    case GgufType::kBool: AppendPod<uint8_t>(std::get<bool>(v.data) ? 1 : 0, out); break;
    case GgufType::kString: AppendString(std::get<std::string>(v.data), out); break;
    case GgufType::kArray: {
      const auto& array = std::get<GgufArray>(v.data);
      AppendPod<uint32_t>(static_cast<uint32_t>(array.element_type), out);
      AppendPod<uint64_t>(array.items.size(), out);
      for (const GgufValue& item : array.items) AppendGgufValue(item, out);
      break;
    }
  }
}

void GgufWriter::Set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::SetStringArray(const std::string& key, const std::vector<std::string>& values) {
  GgufArray a{GgufType::kString, {}};
  for (const auto& s : values) a.items.push_back({GgufType::kString, s});
  Set(key, {GgufType::kArray, std::move(a)});
}

void GgufWriter::SetFloat32Array(const std::string& key, const std::vector<float>& values) {
  GgufArray a{GgufType::kFloat32, {}};
  for (float f : values) a.items.push_back({GgufType::kFloat32, double{f}});
  Set(key, {GgufType::kArray, std::move(a)});
}

void GgufWriter::SetInt32Array(const std::string& key, const std::vector<int32_t>& values) {
  GgufArray a{GgufType::kInt32, {}};
  for (int32_t x : values) a.items.push_back({GgufType::kInt32, int64_t{x}});
  Set(key, {GgufType::kArray, std::move(a)});
}

void GgufWriter::AddTensor(const std::string& name, DType type, std::vector<uint64_t> dims, std::vector<uint8_t> data) {
  const uint64_t size = data.size();
  tensors_.push_back({name, type, std::move(dims), std::move(data), nullptr, size});
}

void GgufWriter::AddTensor(const std::string& name, DType type, std::vector<uint64_t> dims, RowSource source) {
  uint64_t elements = 1;
  for (uint64_t d : dims) elements *= d;
  const uint64_t size = RowBytes(type, elements);
  tensors_.push_back({name, type, std::move(dims), {}, std::move(source), size});
}

std::vector<uint8_t> GgufWriter::HeaderBytes() const {
  std::vector<uint8_t> out;
  AppendPod<uint32_t>(0x46554747, &out);
  AppendPod<uint32_t>(version_, &out);
  AppendPod<uint64_t>(tensors_.size(), &out);
  AppendPod<uint64_t>(metadata_.size(), &out);
  for (const auto& [key, value] : metadata_) {
    AppendString(key, &out);
    AppendPod<uint32_t>(static_cast<uint32_t>(value.type), &out);
    AppendGgufValue(value, &out);
  }
  auto align = [&](uint64_t x) { return (x + alignment_ - 1) / alignment_ * alignment_; };
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    AppendString(t.name, &out);
    AppendPod<uint32_t>(static_cast<uint32_t>(t.dims.size()), &out);
    for (uint64_t d : t.dims) AppendPod<uint64_t>(d, &out);
    AppendPod<uint32_t>(static_cast<uint32_t>(t.type), &out);
    AppendPod<uint64_t>(offset, &out);
    offset = align(offset + t.size_bytes);
  }
  out.resize(align(out.size()), 0);
  return out;
}

uint64_t GgufWriter::TotalBytes() const {
  uint64_t total = HeaderBytes().size();
  for (const Tensor& t : tensors_) total += (t.size_bytes + alignment_ - 1) / alignment_ * alignment_;
  return total;
}

std::vector<uint8_t> GgufWriter::ToBytes() const {
  std::vector<uint8_t> out = HeaderBytes();
  for (const Tensor& t : tensors_) {
    if (t.source) {
      const size_t at = out.size();
      out.resize(at + t.size_bytes);
      t.source(0, t.size_bytes / RowBytes(t.type, t.dims[0]), out.data() + at);
    } else {
      out.insert(out.end(), t.data.begin(), t.data.end());
    }
    out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, 0);
  }
  return out;
}

Status GgufWriter::WriteFile(const std::string& path, uint64_t chunk_bytes,
                             const std::function<void(uint64_t, uint64_t)>& on_progress) const {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return IoError(path + ": cannot create");
  const uint64_t total = TotalBytes();
  uint64_t written = 0;
  auto write = [&](const uint8_t* data, uint64_t size) {
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    written += size;
    if (on_progress) on_progress(written, total);
  };
  const std::vector<uint8_t> header = HeaderBytes();
  write(header.data(), header.size());
  std::vector<uint8_t> buffer;
  for (const Tensor& t : tensors_) {
    if (!t.source) {
      write(t.data.data(), t.data.size());
    } else {
      const uint64_t row_bytes = RowBytes(t.type, t.dims[0]);
      const uint64_t rows = t.size_bytes / row_bytes;
      const uint64_t rows_per_chunk = std::max<uint64_t>(1, chunk_bytes / row_bytes);
      for (uint64_t row = 0; row < rows; row += rows_per_chunk) {
        const uint64_t n = std::min(rows_per_chunk, rows - row);
        buffer.resize(n * row_bytes);
        t.source(row, n, buffer.data());
        write(buffer.data(), buffer.size());
      }
    }
    const uint64_t pad = (alignment_ - t.size_bytes % alignment_) % alignment_;
    const std::vector<uint8_t> zeros(pad, 0);
    write(zeros.data(), pad);
    if (!f) return IoError(path + ": write failed (disk full?)");
  }
  f.close();
  if (!f) return IoError(path + ": write failed (disk full?)");
  return Status::Ok();
}

}  // namespace riglm
