#include "backend/cuda/cuda_model.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_runtime.h"
#include "backend/cuda/device_buffer.h"
#include "tensor/quant.h"

namespace riglm::cuda {
namespace {

__global__ void AddKernel(float* x, const float* __restrict__ y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void ToHalfKernel(const float* __restrict__ x, __half* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __float2half_rn(x[i]);
}

unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + 255) / 256); }

struct DeviceMatrix {
  DeviceBuffer bytes;
  DType type = DType::kF32;
  int64_t rows = 0, cols = 0;
};

struct DeviceLayer {
  DeviceMatrix q, k, v, o, gate, up, down;
  DeviceBuffer attn_norm, ffn_norm, bias_q, bias_k, bias_v;
  DeviceBuffer keys, values;  // F16, context x kv_width
};

Status UploadMatrix(const cpu::WeightMatrix& w, const char* what, DeviceMatrix* out) {
  if (!MatVecSupports(w.type)) {
    return Unsupported(std::string(what) + " has type " + std::string(DTypeName(w.type)) + ", which the CUDA backend cannot read yet");
  }
  out->type = w.type;
  out->rows = w.rows;
  out->cols = w.cols;
  return out->bytes.Upload(w.data, static_cast<size_t>(w.rows) * w.row_bytes);
}

Status UploadVector(const std::vector<float>& v, DeviceBuffer* out) { return out->Upload(v.data(), v.size() * sizeof(float)); }

}  // namespace

struct CudaModel::Impl {
  const LlamaModel* model = nullptr;
  int64_t context = 0;
  std::vector<DeviceLayer> layers;
  DeviceMatrix output;
  DeviceBuffer output_norm, inv_freq;
  // Activations of one token.
  DeviceBuffer x, xn, q, k, v, attn, tmp, gate, up, scores, logits;
  std::vector<float> embedding_row;
};

CudaModel::CudaModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaModel::~CudaModel() = default;

Result<std::unique_ptr<CudaModel>> CudaModel::Create(const LlamaModel& model, int device, int64_t context) {
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(device), "cudaSetDevice"));
  const ModelConfig& c = model.config();
  auto impl = std::make_unique<Impl>();
  impl->model = &model;
  impl->context = context;
  impl->layers.resize(c.block_count);
  for (int64_t i = 0; i < c.block_count; ++i) {
    const LayerWeights& w = model.layers()[i];
    DeviceLayer& d = impl->layers[i];
    RIGLM_RETURN_IF_ERROR(UploadMatrix(w.attn_q, "attn_q", &d.q));
    RIGLM_RETURN_IF_ERROR(UploadMatrix(w.attn_k, "attn_k", &d.k));
    RIGLM_RETURN_IF_ERROR(UploadMatrix(w.attn_v, "attn_v", &d.v));
    RIGLM_RETURN_IF_ERROR(UploadMatrix(w.attn_output, "attn_output", &d.o));
    RIGLM_RETURN_IF_ERROR(UploadMatrix(w.ffn_gate, "ffn_gate", &d.gate));
    RIGLM_RETURN_IF_ERROR(UploadMatrix(w.ffn_up, "ffn_up", &d.up));
    RIGLM_RETURN_IF_ERROR(UploadMatrix(w.ffn_down, "ffn_down", &d.down));
    RIGLM_RETURN_IF_ERROR(UploadVector(w.attn_norm, &d.attn_norm));
    RIGLM_RETURN_IF_ERROR(UploadVector(w.ffn_norm, &d.ffn_norm));
    if (c.has_qkv_bias) {
      RIGLM_RETURN_IF_ERROR(UploadVector(w.bias_q, &d.bias_q));
      RIGLM_RETURN_IF_ERROR(UploadVector(w.bias_k, &d.bias_k));
      RIGLM_RETURN_IF_ERROR(UploadVector(w.bias_v, &d.bias_v));
    }
    const size_t cache_bytes = static_cast<size_t>(context) * c.kv_width() * sizeof(__half);
    RIGLM_RETURN_IF_ERROR(d.keys.Upload(nullptr, cache_bytes));
    RIGLM_RETURN_IF_ERROR(d.values.Upload(nullptr, cache_bytes));
  }
  RIGLM_RETURN_IF_ERROR(UploadMatrix(model.output(), "output", &impl->output));
  RIGLM_RETURN_IF_ERROR(UploadVector(model.output_norm(), &impl->output_norm));
  RIGLM_RETURN_IF_ERROR(UploadVector(model.rope_inv_freq(), &impl->inv_freq));
  const size_t f = sizeof(float);
  RIGLM_RETURN_IF_ERROR(impl->x.Upload(nullptr, c.embedding_length * f));
  RIGLM_RETURN_IF_ERROR(impl->xn.Upload(nullptr, c.embedding_length * f));
  RIGLM_RETURN_IF_ERROR(impl->q.Upload(nullptr, c.q_width() * f));
  RIGLM_RETURN_IF_ERROR(impl->k.Upload(nullptr, c.kv_width() * f));
  RIGLM_RETURN_IF_ERROR(impl->v.Upload(nullptr, c.kv_width() * f));
  RIGLM_RETURN_IF_ERROR(impl->attn.Upload(nullptr, c.q_width() * f));
  RIGLM_RETURN_IF_ERROR(impl->tmp.Upload(nullptr, c.embedding_length * f));
  RIGLM_RETURN_IF_ERROR(impl->gate.Upload(nullptr, c.feed_forward_length * f));
  RIGLM_RETURN_IF_ERROR(impl->up.Upload(nullptr, c.feed_forward_length * f));
  RIGLM_RETURN_IF_ERROR(impl->scores.Upload(nullptr, static_cast<size_t>(c.head_count) * context * f));
  RIGLM_RETURN_IF_ERROR(impl->logits.Upload(nullptr, c.vocab_size * f));
  impl->embedding_row.resize(c.embedding_length);
  return std::unique_ptr<CudaModel>(new CudaModel(std::move(impl)));
}

Status CudaModel::Decode(int32_t token, int64_t position, std::vector<float>* logits) {
  Impl& m = *impl_;
  const ModelConfig& c = m.model->config();
  if (token < 0 || token >= c.vocab_size) return InvalidArgument("token " + std::to_string(token) + " is outside the vocabulary");
  if (position < 0 || position >= m.context) return InvalidArgument("position " + std::to_string(position) + " is past the context");
  auto f = [](DeviceBuffer& b) { return static_cast<float*>(b.ptr); };
  auto mv = [&](const DeviceMatrix& w, DeviceBuffer& in, DeviceBuffer& out) {
    return MatVec(w.type, w.bytes.ptr, w.rows, w.cols, f(in), f(out), nullptr);
  };
  const cpu::WeightMatrix& e = m.model->token_embedding();
  DequantizeRow(e.type, e.data + static_cast<uint64_t>(token) * e.row_bytes, m.embedding_row.data(), c.embedding_length);
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpy(m.x.ptr, m.embedding_row.data(), c.embedding_length * sizeof(float),
                                             cudaMemcpyHostToDevice), "embedding upload"));
  const int heads = static_cast<int>(c.head_count), kv_heads = static_cast<int>(c.head_count_kv);
  const int head_dim = static_cast<int>(c.head_dim), rot = static_cast<int>(c.rope_dims);
  const bool neox = c.rope_style == cpu::RopeStyle::kNeox;
  const float eps = static_cast<float>(c.rms_norm_eps), scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (DeviceLayer& l : m.layers) {
    RIGLM_RETURN_IF_ERROR(RmsNorm(f(m.x), f(l.attn_norm), f(m.xn), 1, c.embedding_length, eps, nullptr));
    RIGLM_RETURN_IF_ERROR(mv(l.q, m.xn, m.q));
    RIGLM_RETURN_IF_ERROR(mv(l.k, m.xn, m.k));
    RIGLM_RETURN_IF_ERROR(mv(l.v, m.xn, m.v));
    if (c.has_qkv_bias) {
      AddKernel<<<Blocks(c.q_width()), 256>>>(f(m.q), f(l.bias_q), c.q_width());
      AddKernel<<<Blocks(c.kv_width()), 256>>>(f(m.k), f(l.bias_k), c.kv_width());
      AddKernel<<<Blocks(c.kv_width()), 256>>>(f(m.v), f(l.bias_v), c.kv_width());
    }
    RIGLM_RETURN_IF_ERROR(Rope(f(m.q), heads, head_dim, rot, position, f(m.inv_freq), neox, nullptr));
    RIGLM_RETURN_IF_ERROR(Rope(f(m.k), kv_heads, head_dim, rot, position, f(m.inv_freq), neox, nullptr));
    __half* key_row = static_cast<__half*>(l.keys.ptr) + position * c.kv_width();
    __half* value_row = static_cast<__half*>(l.values.ptr) + position * c.kv_width();
    ToHalfKernel<<<Blocks(c.kv_width()), 256>>>(f(m.k), key_row, c.kv_width());
    ToHalfKernel<<<Blocks(c.kv_width()), 256>>>(f(m.v), value_row, c.kv_width());
    RIGLM_RETURN_IF_ERROR(AttendDecode(f(m.q), l.keys.ptr, l.values.ptr, position + 1, heads, kv_heads, head_dim, scale,
                                       f(m.scores), f(m.attn), nullptr));
    RIGLM_RETURN_IF_ERROR(mv(l.o, m.attn, m.tmp));
    AddKernel<<<Blocks(c.embedding_length), 256>>>(f(m.x), f(m.tmp), c.embedding_length);
    RIGLM_RETURN_IF_ERROR(RmsNorm(f(m.x), f(l.ffn_norm), f(m.xn), 1, c.embedding_length, eps, nullptr));
    RIGLM_RETURN_IF_ERROR(mv(l.gate, m.xn, m.gate));
    RIGLM_RETURN_IF_ERROR(mv(l.up, m.xn, m.up));
    RIGLM_RETURN_IF_ERROR(SwiGlu(f(m.gate), f(m.up), c.feed_forward_length, f(m.gate), nullptr));
    RIGLM_RETURN_IF_ERROR(mv(l.down, m.gate, m.tmp));
    AddKernel<<<Blocks(c.embedding_length), 256>>>(f(m.x), f(m.tmp), c.embedding_length);
  }
  RIGLM_RETURN_IF_ERROR(RmsNorm(f(m.x), f(m.output_norm), f(m.xn), 1, c.embedding_length, eps, nullptr));
  RIGLM_RETURN_IF_ERROR(mv(m.output, m.xn, m.logits));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaGetLastError(), "decode step"));
  RIGLM_ASSIGN_OR_RETURN(*logits, m.logits.Download<float>(c.vocab_size));
  return Status::Ok();
}

uint64_t CudaModel::device_bytes() const {
  uint64_t total = impl_->output.bytes.bytes;
  for (const DeviceLayer& l : impl_->layers) {
    for (const DeviceMatrix* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) total += w->bytes.bytes;
    total += l.keys.bytes + l.values.bytes;
  }
  return total;
}

}  // namespace riglm::cuda

namespace riglm {
namespace {

class CudaDecoder : public SequenceDecoder {
 public:
  CudaDecoder(std::unique_ptr<cuda::CudaModel> model, std::string name) : model_(std::move(model)), name_(std::move(name)) {}
  Status Decode(int32_t token, int64_t position, std::vector<float>* logits) override {
    return model_->Decode(token, position, logits);
  }
  std::string device_name() const override { return name_; }

 private:
  std::unique_ptr<cuda::CudaModel> model_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<SequenceDecoder>> CreateCudaDecoder(const LlamaModel& model, int device, int64_t context) {
  RIGLM_ASSIGN_OR_RETURN(CudaRuntimeInfo runtime, ProbeCudaRuntime());
  if (device < 0 || device >= static_cast<int>(runtime.devices.size())) {
    return InvalidArgument("cuda:" + std::to_string(device) + ": this machine has " +
                           std::to_string(runtime.devices.size()) + " CUDA GPU(s)");
  }
  RIGLM_ASSIGN_OR_RETURN(std::unique_ptr<cuda::CudaModel> m, cuda::CudaModel::Create(model, device, context));
  return std::unique_ptr<SequenceDecoder>(std::make_unique<CudaDecoder>(
      std::move(m), "cuda:" + std::to_string(device) + " (" + runtime.devices[device].name + ")"));
}

}  // namespace riglm
