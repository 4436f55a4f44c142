#include "loader/split_gguf.h"

#include <cstdio>
#include <regex>

#include "format/gguf_writer.h"
#include "loader/composed_source.h"
#include "loader/gguf_header.h"

namespace riglm {

bool IsSplitGgufPath(const std::string& path, std::string* prefix, int* count, int* part) {
  static const std::regex kSplit("^(.*)-([0-9]{5})-of-([0-9]{5})\\.gguf$", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(path, m, kSplit)) return false;
  if (prefix) *prefix = m[1].str();
  if (count) *count = std::stoi(m[3].str());
  if (part) *part = std::stoi(m[2].str());
  return std::stoi(m[3].str()) >= 1;
}

Result<std::unique_ptr<ByteSource>> OpenSplitGguf(const std::string& any_part, const SourceOptions& options) {
  std::string prefix;
  int count = 0;
  if (!IsSplitGgufPath(any_part, &prefix, &count)) return InvalidArgument(any_part + " is not named like a split GGUF part");
  std::vector<std::unique_ptr<ByteSource>> parts;
  std::vector<ComposedTensor> tensors;
  GgufWriter metadata;
  uint64_t expected_tensors = 0;
  for (int i = 0; i < count; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", i + 1, count);
    const std::string path = prefix + suffix;
    Result<std::unique_ptr<ByteSource>> part = OpenFileSource(path, options);
    if (!part.ok() && part.status().code() == StatusCode::kNotFound) {
      return NotFound(path + ": part " + std::to_string(i + 1) + " of " + std::to_string(count) + " of the split model is missing");
    }
    RIGLM_RETURN_IF_ERROR(part.status());
    RIGLM_ASSIGN_OR_RETURN(GgufFile gguf, ReadGgufHeader(**part));
    if (gguf.Find("split.no")) {
      RIGLM_ASSIGN_OR_RETURN(uint64_t n, gguf.GetUint("split.no"));
      if (n != static_cast<uint64_t>(i)) return Corruption(path + ": says it is part " + std::to_string(n + 1) + ", its name says " + std::to_string(i + 1));
    }
    if (gguf.Find("split.count")) {
      RIGLM_ASSIGN_OR_RETURN(uint64_t n, gguf.GetUint("split.count"));
      if (n != static_cast<uint64_t>(count)) return Corruption(path + ": says the model has " + std::to_string(n) + " parts, its name says " + std::to_string(count));
    }
    if (i == 0) {
      for (const auto& [key, value] : gguf.metadata()) {
        if (key.rfind("split.", 0) != 0 && key != "general.alignment") metadata.Set(key, value);
      }
      if (gguf.Find("split.tensors.count")) {
        RIGLM_ASSIGN_OR_RETURN(expected_tensors, gguf.GetUint("split.tensors.count"));
      }
    }
    for (const GgufTensorInfo& t : gguf.tensors()) {
      ComposedTensor c;
      c.name = t.name;
      c.type = c.source_type = t.type;
      c.dims = t.dims;
      c.source = i;
      c.source_offset = gguf.data_offset_bytes() + t.offset_bytes;
      tensors.push_back(std::move(c));
    }
    parts.push_back(std::move(*part));
  }
  if (expected_tensors != 0 && expected_tensors != tensors.size()) {
    return Corruption(prefix + ": the parts hold " + std::to_string(tensors.size()) + " tensors, the first part promises " +
                      std::to_string(expected_tensors));
  }
  return ComposeGguf(any_part, metadata, std::move(tensors), std::move(parts));
}

}  // namespace riglm
