#include "format/gguf.h"

#include <algorithm>
#include <cstring>

#include "util/strings.h"

namespace riglm {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian uint32
constexpr uint64_t kMaxTensors = 1u << 20;
constexpr uint64_t kMaxMetadataPairs = 1u << 20;
constexpr uint64_t kMaxStringBytes = 1u << 28;
constexpr uint64_t kMaxArrayItems = 1u << 28;
constexpr int kMaxArrayDepth = 4;
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxAlignment = 1u << 20;
// The fewest bytes one tensor info or one key/value pair can occupy on disk.
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
constexpr uint64_t kMinPairBytes = 8 + 1 + 4 + 1;

bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

// Cursor over the header bytes; every read is bounds-checked and errors carry the offset.
class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, uint64_t file_size, std::string name)
      : bytes_(bytes), file_size_(file_size), name_(std::move(name)) {}

  Result<GgufFile> Run();

 private:
  Status Error(const std::string& what) const {
    return Corruption(name_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  uint64_t Remaining() const { return bytes_.size() - pos_; }
  // What a truncated header means depends on whether the file itself is short.
  Status Truncated(const std::string& what) const {
    if (bytes_.size() < file_size_) {
      return Unavailable(name_ + ": header is longer than the " + std::to_string(bytes_.size()) +
                         " bytes read so far, while reading " + what);
    }
    return Error("file is truncated: ended while reading " + what);
  }

  template <typename T>
  Status ReadPod(T* out, const char* what) {
    if (Remaining() < sizeof(T)) return Truncated(what);
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status ReadString(std::string* out, const char* what) {
    uint64_t length = 0;
    RIGLM_RETURN_IF_ERROR(ReadPod(&length, what));
    if (length > kMaxStringBytes) {
      return Error(std::string(what) + " claims " + std::to_string(length) +
                   " bytes, over the limit of " + std::to_string(kMaxStringBytes));
    }
    if (length > Remaining()) return Truncated(what);
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return Status::Ok();
  }

  Status ReadValue(GgufType type, GgufValue* out, int depth, const std::string& key);
  Status ReadArray(GgufValue* out, int depth, const std::string& key);
  Status ReadTensorInfo(GgufTensorInfo* info, uint64_t index);
  Status ValidateTensorData(GgufFile* file);

  std::span<const uint8_t> bytes_;
  uint64_t file_size_;
  std::string name_;
  uint64_t pos_ = 0;
};

Status GgufParser::ReadValue(GgufType type, GgufValue* out, int depth, const std::string& key) {
  out->type = type;
  switch (type) {
    case GgufType::kUint8: { uint8_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "a uint8 value")); out->data = uint64_t{v}; break; }
    case GgufType::kUint16: { uint16_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "a uint16 value")); out->data = uint64_t{v}; break; }
    case GgufType::kUint32: { uint32_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "a uint32 value")); out->data = uint64_t{v}; break; }
    case GgufType::kUint64: { uint64_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "a uint64 value")); out->data = v; break; }
    case GgufType::kInt8: { int8_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "an int8 value")); out->data = int64_t{v}; break; }
    case GgufType::kInt16: { int16_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "an int16 value")); out->data = int64_t{v}; break; }
    case GgufType::kInt32: { int32_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "an int32 value")); out->data = int64_t{v}; break; }
    case GgufType::kInt64: { int64_t v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "an int64 value")); out->data = v; break; }
    case GgufType::kFloat32: { float v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "a float32 value")); out->data = double{v}; break; }
    case GgufType::kFloat64: { double v{}; RIGLM_RETURN_IF_ERROR(ReadPod(&v, "a float64 value")); out->data = v; break; }
    case GgufType::kBool: {
      uint8_t v = 0;
      RIGLM_RETURN_IF_ERROR(ReadPod(&v, "a bool value"));
      if (v > 1) return Error("metadata '" + key + "': bool value " + std::to_string(v) + " is neither 0 nor 1");
      out->data = v == 1;
      break;
    }
    case GgufType::kString: {
      std::string s;
      RIGLM_RETURN_IF_ERROR(ReadString(&s, "a string value"));
      out->data = std::move(s);
      break;
    }
    case GgufType::kArray: return ReadArray(out, depth, key);
    default:
      return Error("metadata '" + key + "': unknown value type " +
                   std::to_string(static_cast<uint32_t>(type)));
  }
  return Status::Ok();
}

Status GgufParser::ReadArray(GgufValue* out, int depth, const std::string& key) {
  if (depth >= kMaxArrayDepth) {
    return Error("metadata '" + key + "': arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  }
  uint32_t element_type = 0;
  uint64_t count = 0;
  RIGLM_RETURN_IF_ERROR(ReadPod(&element_type, "an array element type"));
  RIGLM_RETURN_IF_ERROR(ReadPod(&count, "an array length"));
  if (element_type > static_cast<uint32_t>(GgufType::kFloat64)) {
    return Error("metadata '" + key + "': array of unknown element type " + std::to_string(element_type));
  }
  // Each element takes at least one byte (strings eight, arrays twelve), so the bytes that are
  // left bound the count before anything is reserved.
  const auto type = static_cast<GgufType>(element_type);
  uint64_t min_element_bytes = 1;
  switch (type) {
    case GgufType::kUint16: case GgufType::kInt16: min_element_bytes = 2; break;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: min_element_bytes = 4; break;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: case GgufType::kString: min_element_bytes = 8; break;
    case GgufType::kArray: min_element_bytes = 12; break;
    default: break;
  }
  if (count > kMaxArrayItems) {
    return Error("metadata '" + key + "': array length " + std::to_string(count) + " exceeds the limit of " +
                 std::to_string(kMaxArrayItems));
  }
  uint64_t needed = 0;
  if (!CheckedMul(count, min_element_bytes, &needed) || needed > Remaining()) {
    if (bytes_.size() >= file_size_) {
      return Error("metadata '" + key + "': array length " + std::to_string(count) +
                   " cannot fit in the " + std::to_string(Remaining()) + " bytes left in the file");
    }
    return Truncated("array '" + key + "'");
  }
  GgufArray array;
  array.element_type = type;
  array.items.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    RIGLM_RETURN_IF_ERROR(ReadValue(type, &array.items[i], depth + 1, key));
  }
  out->data = std::move(array);
  return Status::Ok();
}

Status GgufParser::ReadTensorInfo(GgufTensorInfo* info, uint64_t index) {
  RIGLM_RETURN_IF_ERROR(ReadString(&info->name, "a tensor name"));
  const std::string label = "tensor #" + std::to_string(index) + " '" + info->name + "'";
  if (info->name.empty()) return Error(label + ": empty name");
  uint32_t num_dims = 0;
  RIGLM_RETURN_IF_ERROR(ReadPod(&num_dims, "tensor dimension count"));
  if (num_dims == 0 || num_dims > kMaxDims) {
    return Error(label + ": " + std::to_string(num_dims) + " dimensions (expected 1 to " +
                 std::to_string(kMaxDims) + ")");
  }
  info->dims.resize(num_dims);
  uint64_t elements = 1;
  for (uint32_t d = 0; d < num_dims; ++d) {
    RIGLM_RETURN_IF_ERROR(ReadPod(&info->dims[d], "tensor dimensions"));
    if (info->dims[d] == 0 || info->dims[d] > (uint64_t{1} << 40)) {
      return Error(label + ": dimension " + std::to_string(d) + " is " + std::to_string(info->dims[d]));
    }
    if (!CheckedMul(elements, info->dims[d], &elements)) {
      return Error(label + ": element count overflows 64 bits (" + ShapeString(info->dims) + ")");
    }
  }
  info->num_elements = elements;
  uint32_t type_id = 0;
  RIGLM_RETURN_IF_ERROR(ReadPod(&type_id, "tensor type"));
  std::optional<DTypeInfo> type = LookupDType(type_id);
  if (!type) return Error(label + ": unknown tensor type id " + std::to_string(type_id));
  info->type = type->type;
  if (info->dims[0] % type->block_elements != 0) {
    return Error(label + ": row length " + std::to_string(info->dims[0]) + " is not a multiple of the " +
                 std::string(type->name) + " block size " + std::to_string(type->block_elements));
  }
  if (!CheckedMul(elements / type->block_elements, type->block_bytes, &info->size_bytes)) {
    return Error(label + ": byte size overflows 64 bits");
  }
  return ReadPod(&info->offset_bytes, "tensor data offset");
}

Status GgufParser::ValidateTensorData(GgufFile* file) {
  const uint64_t data_bytes = file_size_ - file->data_offset_bytes_;
  std::vector<const GgufTensorInfo*> by_offset;
  by_offset.reserve(file->tensors_.size());
  for (const GgufTensorInfo& t : file->tensors_) {
    if (t.offset_bytes % file->alignment_ != 0) {
      return Corruption(name_ + ": tensor '" + t.name + "' data offset " + std::to_string(t.offset_bytes) +
                        " is not a multiple of the alignment " + std::to_string(file->alignment_));
    }
    if (t.offset_bytes > data_bytes || t.size_bytes > data_bytes - t.offset_bytes) {
      return Corruption(name_ + ": tensor '" + t.name + "' data [" + std::to_string(t.offset_bytes) + ", +" +
                        std::to_string(t.size_bytes) + ") lies outside the " + std::to_string(data_bytes) +
                        " bytes of tensor data; is the file truncated?");
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->offset_bytes < b->offset_bytes; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& prev = *by_offset[i - 1];
    if (prev.offset_bytes + prev.size_bytes > by_offset[i]->offset_bytes) {
      return Corruption(name_ + ": tensor '" + prev.name + "' data overlaps tensor '" + by_offset[i]->name + "'");
    }
  }
  return Status::Ok();
}

Result<GgufFile> GgufParser::Run() {
  GgufFile file;
  file.name_ = name_;
  file.file_size_bytes_ = file_size_;
  if (bytes_.size() > file_size_) return Internal(name_ + ": more header bytes than the file holds");

  uint32_t magic = 0;
  if (file_size_ < 4) return Corruption(name_ + ": not a GGUF file (" + std::to_string(file_size_) + " bytes)");
  RIGLM_RETURN_IF_ERROR(ReadPod(&magic, "the magic number"));
  if (magic != kGgufMagic) {
    return Corruption(name_ + ": not a GGUF file (bad magic " + HexBytes(bytes_.data(), 4) + ", expected \"GGUF\")");
  }
  RIGLM_RETURN_IF_ERROR(ReadPod(&file.version_, "the version"));
  if (file.version_ == 1) return Unsupported(name_ + ": GGUF version 1 is obsolete; convert the model again");
  if (file.version_ != 2 && file.version_ != 3) {
    return Corruption(name_ + ": unsupported GGUF version " + std::to_string(file.version_) + " (riglm reads 2 and 3)");
  }
  uint64_t num_tensors = 0, num_pairs = 0;
  RIGLM_RETURN_IF_ERROR(ReadPod(&num_tensors, "the tensor count"));
  RIGLM_RETURN_IF_ERROR(ReadPod(&num_pairs, "the metadata count"));
  if (num_tensors > kMaxTensors || num_tensors > file_size_ / kMinTensorInfoBytes) {
    return Error("tensor count " + std::to_string(num_tensors) + " exceeds what a " + FormatBytes(file_size_) +
                 " file can hold");
  }
  if (num_pairs > kMaxMetadataPairs || num_pairs > file_size_ / kMinPairBytes) {
    return Error("metadata count " + std::to_string(num_pairs) + " exceeds what a " + FormatBytes(file_size_) +
                 " file can hold");
  }

  for (uint64_t i = 0; i < num_pairs; ++i) {
    std::string key;
    RIGLM_RETURN_IF_ERROR(ReadString(&key, "a metadata key"));
    if (key.empty()) return Error("metadata pair #" + std::to_string(i) + " has an empty key");
    uint32_t type = 0;
    RIGLM_RETURN_IF_ERROR(ReadPod(&type, "a metadata value type"));
    GgufValue value;
    RIGLM_RETURN_IF_ERROR(ReadValue(static_cast<GgufType>(type), &value, 0, key));
    if (!file.metadata_.emplace(key, std::move(value)).second) {
      return Error("metadata key '" + key + "' appears twice");
    }
  }

  if (const GgufValue* align = file.Find("general.alignment")) {
    const uint64_t* v = std::get_if<uint64_t>(&align->data);
    if (v == nullptr || *v == 0 || (*v & (*v - 1)) != 0 || *v > kMaxAlignment) {
      return Corruption(name_ + ": general.alignment must be a power of two up to " +
                        std::to_string(kMaxAlignment) + " stored as an unsigned integer");
    }
    file.alignment_ = *v;
  }

  file.tensors_.resize(num_tensors);
  for (uint64_t i = 0; i < num_tensors; ++i) {
    RIGLM_RETURN_IF_ERROR(ReadTensorInfo(&file.tensors_[i], i));
    if (!file.tensor_index_.emplace(file.tensors_[i].name, i).second) {
      return Error("tensor name '" + file.tensors_[i].name + "' appears twice");
    }
  }

  const uint64_t padded = (pos_ + file.alignment_ - 1) / file.alignment_ * file.alignment_;
  if (num_tensors > 0 && padded > file_size_) {
    return Corruption(name_ + ": file is truncated: tensor data would start at byte " + std::to_string(padded) +
                      " of a " + std::to_string(file_size_) + "-byte file");
  }
  file.data_offset_bytes_ = std::min(padded, file_size_);
  RIGLM_RETURN_IF_ERROR(ValidateTensorData(&file));
  return file;
}

Result<GgufFile> GgufFile::Parse(std::span<const uint8_t> bytes, uint64_t file_size_bytes, std::string name) {
  return GgufParser(bytes, file_size_bytes, std::move(name)).Run();
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
Status WrongType(const std::string& file, std::string_view key, std::string_view wanted, GgufType actual) {
  return InvalidArgument(file + ": metadata '" + std::string(key) + "' is " + std::string(GgufTypeName(actual)) +
                         ", expected " + std::string(wanted));
}
Status Missing(const std::string& file, std::string_view key) {
  return NotFound(file + ": metadata '" + std::string(key) + "' is missing");
}
}  // namespace

Result<uint64_t> GgufFile::GetUint(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(name_, key);
  if (const auto* u = std::get_if<uint64_t>(&v->data)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v->data); i != nullptr && *i >= 0) return static_cast<uint64_t>(*i);
  return WrongType(name_, key, "a non-negative integer", v->type);
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(name_, key);
  if (const auto* i = std::get_if<int64_t>(&v->data)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v->data); u != nullptr && *u <= INT64_MAX) return static_cast<int64_t>(*u);
  return WrongType(name_, key, "an integer", v->type);
}

Result<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(name_, key);
  if (const auto* f = std::get_if<double>(&v->data)) return *f;
  if (const auto* i = std::get_if<int64_t>(&v->data)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&v->data)) return static_cast<double>(*u);
  return WrongType(name_, key, "a number", v->type);
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(name_, key);
  if (const auto* b = std::get_if<bool>(&v->data)) return *b;
  return WrongType(name_, key, "a bool", v->type);
}

Result<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(name_, key);
  if (const auto* s = std::get_if<std::string>(&v->data)) return *s;
  return WrongType(name_, key, "a string", v->type);
}

Result<const GgufArray*> GgufFile::GetArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(name_, key);
  if (const auto* a = std::get_if<GgufArray>(&v->data)) return a;
  return WrongType(name_, key, "an array", v->type);
}

}  // namespace riglm
