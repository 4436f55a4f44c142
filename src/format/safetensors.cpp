#include "format/safetensors.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "util/files.h"

namespace riglm {
namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // the reference implementation's limit

struct SafetensorsDTypeEntry {
  std::string_view name;
  DType type;
};
constexpr SafetensorsDTypeEntry kDTypes[] = {
    {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16}, {"F64", DType::kF64},
    {"I8", DType::kI8},   {"I16", DType::kI16}, {"I32", DType::kI32},   {"I64", DType::kI64},
};

}  // namespace

std::optional<DType> SafetensorsDType(std::string_view name) {
  for (const SafetensorsDTypeEntry& d : kDTypes) {
    if (d.name == name) return d.type;
  }
  return std::nullopt;
}

std::string_view SafetensorsDTypeName(DType type) {
  for (const SafetensorsDTypeEntry& d : kDTypes) {
    if (d.type == type) return d.name;
  }
  return "?";
}

const SafetensorsTensor* SafetensorsHeader::Find(const std::string& name) const {
  for (const SafetensorsTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<SafetensorsHeader> ParseSafetensorsHeader(std::span<const uint8_t> bytes, uint64_t file_size,
                                                 const std::string& name) {
  if (bytes.size() < 8) return Corruption(name + ": too short for a safetensors file (" + std::to_string(file_size) + " bytes)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > kMaxHeaderBytes) {
    return Corruption(name + ": safetensors header length " + std::to_string(header_len) + " is over the 100 MiB limit (not a safetensors file?)");
  }
  if (8 + header_len > file_size) {
    return Corruption(name + ": safetensors header (" + std::to_string(header_len) + " bytes) runs past the end of the file");
  }
  if (8 + header_len > bytes.size()) return Unavailable(name + ": header not fully read");
  Json doc = Json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<ptrdiff_t>(header_len), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Corruption(name + ": the safetensors header is not a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_len;
  const uint64_t data_size = file_size - header.data_offset;
  for (auto& [key, value] : doc.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Corruption(name + ": __metadata__ is not an object");
      for (auto& [mk, mv] : value.items()) {
        if (mv.is_string()) header.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    const std::string where = name + ": tensor '" + key + "'";
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets")) {
      return Corruption(where + " lacks dtype, shape or data_offsets");
    }
    const Json& dtype = value["dtype"];
    const Json& shape = value["shape"];
    const Json& offsets = value["data_offsets"];
    if (!dtype.is_string()) return Corruption(where + ": dtype is not a string");
    std::optional<DType> type = SafetensorsDType(dtype.get<std::string>());
    if (!type) return Unsupported(where + " has dtype " + dtype.get<std::string>() + "; riglm reads F32, F16, BF16, F64 and integer tensors");
    SafetensorsTensor t;
    t.name = key;
    t.type = *type;
    if (!shape.is_array() || shape.size() > 8) return Corruption(where + ": shape is not an array of at most 8 sizes");
    for (const Json& d : shape) {
      if (!d.is_number_unsigned()) return Corruption(where + ": shape holds a value that is not a size");
      const uint64_t n = d.get<uint64_t>();
      if (n != 0 && t.num_elements > (uint64_t{1} << 48) / n) return Corruption(where + ": shape is absurdly large");
      t.shape.push_back(n);
      t.num_elements *= n;
    }
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
      return Corruption(where + ": data_offsets is not a pair of offsets");
    }
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return Corruption(where + ": bytes [" + std::to_string(begin) + ", " + std::to_string(end) + ") lie outside the " +
                        std::to_string(data_size) + " bytes of data (truncated file?)");
    }
    t.size_bytes = end - begin;
    const uint64_t expected = t.num_elements * GetDTypeInfo(t.type).block_bytes;
    if (t.size_bytes != expected) {
      return Corruption(where + " holds " + std::to_string(t.size_bytes) + " bytes, but " + std::string(dtype.get<std::string>()) +
                        " " + std::to_string(t.num_elements) + " elements take " + std::to_string(expected));
    }
    t.offset = header.data_offset + begin;
    header.tensors.push_back(std::move(t));
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < header.tensors.size(); ++i) {
    const SafetensorsTensor& prev = header.tensors[i - 1];
    if (prev.offset + prev.size_bytes > header.tensors[i].offset) {
      return Corruption(name + ": tensors '" + prev.name + "' and '" + header.tensors[i].name + "' overlap");
    }
  }
  return header;
}

Result<SafetensorsHeader> ReadSafetensorsHeader(ByteSource& source) {
  const uint64_t size = source.size();
  uint8_t len_bytes[8] = {};
  if (size < 8) return Corruption(source.name() + ": too short for a safetensors file (" + std::to_string(size) + " bytes)");
  RIGLM_RETURN_IF_ERROR(source.ReadAt(0, len_bytes));
  uint64_t header_len = 0;
  std::memcpy(&header_len, len_bytes, 8);
  std::vector<uint8_t> bytes(8 + std::min(header_len, std::min(kMaxHeaderBytes + 1, size - 8)));
  RIGLM_RETURN_IF_ERROR(source.ReadAt(0, bytes));
  return ParseSafetensorsHeader(bytes, size, source.name());
}

void SafetensorsWriter::Add(const std::string& name, DType type, std::vector<uint64_t> shape, std::vector<uint8_t> data) {
  entries_.push_back({name, type, std::move(shape), std::move(data)});
}

std::vector<uint8_t> SafetensorsWriter::ToBytes() const {
  Json header = Json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry& e : entries_) {
    header[e.name] = {{"dtype", SafetensorsDTypeName(e.type)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.data.size()}}};
    offset += e.data.size();
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // keeps the data 8-aligned, as the reference writer does
  const uint64_t len = text.size();
  std::vector<uint8_t> out(8 + len + offset);
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, text.data(), len);
  uint8_t* at = out.data() + 8 + len;
  for (const Entry& e : entries_) {
    if (!e.data.empty()) std::memcpy(at, e.data.data(), e.data.size());
    at += e.data.size();
  }
  return out;
}

Status SafetensorsWriter::WriteFile(const std::string& path) const { return WriteFileAtomically(path, ToBytes()); }

}  // namespace riglm
