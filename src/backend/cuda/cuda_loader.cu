// The CUDA backend behind the engine's interfaces: a SequenceDecoder over CudaModel, built from a
// model in host memory or streamed from its source straight into the GPUs.
#include <chrono>

#include "backend/cuda/cuda_model.h"
#include "backend/cuda/cuda_runtime.h"
#include "backend/cuda/cuda_sink.h"
#include "loader/gguf_header.h"
#include "loader/model_loader.h"
#include "loader/stage_placement.h"

namespace riglm {
namespace {

class CudaDecoder : public SequenceDecoder {
 public:
  CudaDecoder(std::unique_ptr<cuda::CudaModel> model, std::string name) : model_(std::move(model)), name_(std::move(name)) {}
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits) override {
    return model_->Decode(token, position, logits);
  }
  Status Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits) override {
    if (tokens.empty()) return InvalidArgument("a prompt of no tokens");
    return model_->Prefill(tokens, position, logits);
  }
  std::string device_name() const override { return name_; }

 private:
  std::unique_ptr<cuda::CudaModel> model_;
  std::string name_;
};

// Every stage's GPU exists; the decoder's name lists them: "cuda:0 (NVIDIA H100 80GB HBM3)" or
// "cuda:0, cuda:0.1, cuda:0.2 (NVIDIA H100 80GB HBM3)".
Result<std::string> CheckStageDevices(const std::vector<CudaStage>& stages) {
  if (stages.empty()) return InvalidArgument("no CUDA stages");
  RIGLM_ASSIGN_OR_RETURN(CudaRuntimeInfo runtime, ProbeCudaRuntime());
  std::string names, gpus;
  for (const CudaStage& s : stages) {
    if (s.device < 0 || s.device >= static_cast<int>(runtime.devices.size())) {
      return InvalidArgument(s.name + ": this machine has " + std::to_string(runtime.devices.size()) + " CUDA GPU(s)");
    }
    names += (names.empty() ? "" : ", ") + s.name;
    const std::string& gpu = runtime.devices[s.device].name;
    if (gpus.find(gpu) == std::string::npos) gpus += (gpus.empty() ? "" : ", ") + gpu;
  }
  return names + " (" + gpus + ")";
}

}  // namespace

Result<std::unique_ptr<SequenceDecoder>> CreateCudaDecoder(const LlamaModel& model, const std::vector<CudaStage>& stages,
                                                           int64_t context) {
  RIGLM_ASSIGN_OR_RETURN(std::string name, CheckStageDevices(stages));
  RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<cuda::CudaModel> m, cuda::CudaModel::Create(model, stages, context));
  return std::unique_ptr<SequenceDecoder>(std::make_unique<CudaDecoder>(std::move(m), std::move(name)));
}

Result<CudaModelLoad> LoadCudaModel(ByteSource& source, const std::vector<CudaStage>& stages, int64_t context,
                                    const LoadOptions& options) {
  RIGLM_RETURN_IF_ERROR(CheckStageDevices(stages).status());
  RIGLM_ASSIGN_OR_RETURN(GgufFile gguf, ReadGgufHeader(source));
  RIGLM_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::FromGguf(gguf));
  std::vector<PipelineStage> layout;
  for (const CudaStage& s : stages) layout.push_back({s.name, s.first_layer, s.end_layer});
  RIGLM_ASSIGN_OR_RETURN(std::vector<StagedTensor> staged, PlaceTensorsByLayer(gguf, config.block_count, layout));

  // Vectors (norms, biases, RoPE factors) in host memory: the model binds them as floats.
  auto host = std::make_shared<HostSink>("host");
  std::vector<std::shared_ptr<cuda::CudaTensorSink>> sinks;
  for (const CudaStage& s : stages) {
    RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<cuda::CudaTensorSink> sink, cuda::CudaTensorSink::Create(s.name, s.device, s.memory_cap));
    sinks.push_back(std::move(sink));
  }
  std::vector<TensorPlacement> placements;
  for (const StagedTensor& t : staged) {
    TensorSink* sink = t.tensor->dims.size() == 1 ? static_cast<TensorSink*>(host.get()) : sinks[t.stage].get();
    placements.push_back({t.tensor, sink});
  }
  RIGLM_ASSIGN_OR_RETURN(LoadStats stats, StreamTensors(source, gguf, placements, options));
  uint64_t device_bytes = 0;
  for (const auto& sink : sinks) {
    RIGLM_RETURN_IF_ERROR(sink->Finish());
    device_bytes += sink->bytes();
    stats.staging_bytes += sink->pinned_bytes();
  }
  std::unordered_map<const GgufTensorInfo*, const uint8_t*> where;
  for (const StagedTensor& t : staged) {
    where[t.tensor] = t.tensor->dims.size() == 1 ? host->data(*t.tensor) : sinks[t.stage]->data(*t.tensor);
  }
  // The tensor infos move with the GgufFile (a vector move keeps their addresses).
  RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                         LlamaModel::FromGgufOnDevice(std::move(gguf), [&](const GgufTensorInfo& t) { return where.at(&t); }));
  model->KeepAlive(host);
  for (auto& sink : sinks) model->KeepAlive(sink);
  CudaModelLoad load;
  RIGLM_ASSIGN_OR_RETURN(load.decoder, CreateCudaDecoder(*model, stages, context));
  load.model = std::move(model);
  load.stats = stats;
  load.device_bytes = device_bytes;
  Result<CudaModelLoad> result(std::move(load));  // a move-only value: nvcc wants the conversion spelled out
  return result;
}

}  // namespace riglm
