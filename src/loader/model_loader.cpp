#include "loader/model_loader.h"

#include <cstring>

#include "loader/gguf_header.h"
#include "loader/split_gguf.h"
#include "model/hf_model_source.h"
#include "model/synthetic_source.h"

namespace riglm {

Status HostSink::Prepare(const GgufTensorInfo& tensor) {
  LargeBuffer buffer = AllocateLarge(std::max<uint64_t>(tensor.size_bytes, 1));
  if (buffer == nullptr) return OutOfMemory("no host memory for tensor '" + tensor.name + "' (" + std::to_string(tensor.size_bytes) + " bytes)");
  bytes_ += tensor.size_bytes;
  tensors_[&tensor] = std::move(buffer);
  return Status::Ok();
}

Status HostSink::Write(const GgufTensorInfo& tensor, uint64_t offset, std::span<const uint8_t> bytes) {
  auto it = tensors_.find(&tensor);
  if (it == tensors_.end() || offset + bytes.size() > tensor.size_bytes) {
    return Internal("write outside tensor '" + tensor.name + "'");
  }
  std::memcpy(it->second.get() + offset, bytes.data(), bytes.size());
  return Status::Ok();
}

const uint8_t* HostSink::data(const GgufTensorInfo& tensor) const {
  auto it = tensors_.find(&tensor);
  return it == tensors_.end() ? nullptr : it->second.get();
}

bool IsSyntheticLocation(const std::string& location) { return location.starts_with("synthetic:"); }

Result<std::unique_ptr<ByteSource>> OpenModelSource(const std::string& location, const ModelLoadOptions& options) {
  if (IsSyntheticLocation(location)) {
    const std::string spec = location.substr(10);
    const size_t colon = spec.find(':');
    if (colon == std::string::npos) return InvalidArgument(location + ": write synthetic:SHAPE:TYPE, e.g. synthetic:llama-3.1-8b:Q4_K_M");
    RIGLM_ASSIGN_OR_RETURN(ModelShape shape, FindModelShape(spec.substr(0, colon)));
    RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<SyntheticSource> source, SyntheticSource::Create(shape, spec.substr(colon + 1)));
    return std::unique_ptr<ByteSource>(std::move(source));
  }
  if (IsHfModelDir(location)) {
    HfModelOptions hf;
    hf.quant = options.quant;
    hf.source = options.source;
    return OpenHfModel(location, hf);
  }
  if (!options.quant.empty()) {
    return InvalidArgument(location + ": --quant applies to safetensors models; a GGUF file keeps its types (riglm quantize re-encodes one)");
  }
  if (!IsUrl(location) && IsSplitGgufPath(location)) return OpenSplitGguf(location, options.source);
  return OpenByteSource(location, options.source);
}

Result<std::unique_ptr<LlamaModel>> LoadModelFrom(const std::string& location, const ModelLoadOptions& options) {
  const bool one_file = !IsUrl(location) && !IsHfModelDir(location) && !IsSplitGgufPath(location) && !IsSyntheticLocation(location);
  if (one_file && options.quant.empty()) return LlamaModel::Load(location);
  RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenModelSource(location, options));
  RIGLM_ASSIGN_OR_RETURN(GgufFile gguf, ReadGgufHeader(*source));
  auto sink = std::make_shared<HostSink>("cpu");
  std::vector<TensorPlacement> placements;
  for (const GgufTensorInfo& t : gguf.tensors()) placements.push_back({&t, sink.get()});
  RIGLM_RETURN_IF_ERROR(StreamTensors(*source, gguf, placements, options.load).status());
  // The tensor infos move with the GgufFile (a vector move keeps their addresses).
  RIGLM_ASSIGN_OR_RETURN(auto model, LlamaModel::FromGguf(std::move(gguf), [&](const GgufTensorInfo& t) { return sink->data(t); }));
  model->KeepAlive(sink);
  return model;
}

}  // namespace riglm
