#include "backend/cuda/cuda_model.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"
#include "util/strings.h"

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
  const void* data = nullptr;  // GPU memory: `owned`, or the loader's when the model was streamed there
  DeviceBuffer owned;
  DType type = DType::kF32;
  int64_t rows = 0, cols = 0;
};

uint64_t MatrixBytes(const cpu::WeightMatrix& w) { return static_cast<uint64_t>(w.rows) * w.row_bytes; }

Status BindMatrix(const cpu::WeightMatrix& w, const char* what, bool on_device, DeviceMatrix* out) {
  if (!MatVecSupports(w.type)) {
    return Unsupported(std::string(what) + " has type " + std::string(DTypeName(w.type)) + ", which the CUDA backend cannot read");
  }
  out->type = w.type;
  out->rows = w.rows;
  out->cols = w.cols;
  if (on_device) {
    out->data = w.data;
    return Status::Ok();
  }
  RIGLM_RETURN_IF_ERROR(out->owned.Upload(w.data, MatrixBytes(w)));
  out->data = out->owned.ptr;
  return Status::Ok();
}

Status UploadVector(const std::vector<float>& v, DeviceBuffer* out) { return out->Upload(v.data(), v.size() * sizeof(float)); }

struct DeviceLayer {
  DeviceMatrix q, k, v, o, gate, up, down;
  DeviceBuffer attn_norm, ffn_norm, bias_q, bias_k, bias_v;
  DeviceBuffer keys, values;  // F16, context x kv_width
};

struct Stage {
  CudaStage layout;
  std::vector<DeviceLayer> layers;
  DeviceBuffer inv_freq;
  DeviceBuffer x, xn, q, k, v, attn, tmp, gate, up, scores;  // activations of one token
  DeviceMatrix embedding;  // first stage
  DeviceBuffer token;      // first stage: the token id, read by the embedding lookup
  DeviceMatrix output;     // last stage
  DeviceBuffer output_norm, logits;
};

// What a stage takes on its GPU: the weights of its layers (and the embedding or the head),
// the KV cache and the activations; checked against its cap before anything is allocated.
uint64_t StageBytes(const LlamaModel& model, const CudaStage& s, bool first, bool last, int64_t context) {
  const ModelConfig& c = model.config();
  uint64_t bytes = 0;
  for (int64_t i = s.first_layer; i < s.end_layer; ++i) {
    const LayerWeights& w = model.layers()[i];
    for (const cpu::WeightMatrix* m : {&w.attn_q, &w.attn_k, &w.attn_v, &w.attn_output, &w.ffn_gate, &w.ffn_up, &w.ffn_down}) {
      bytes += MatrixBytes(*m);
    }
    bytes += 2 * static_cast<uint64_t>(context) * c.kv_width() * sizeof(__half);
  }
  if (first) bytes += MatrixBytes(model.token_embedding());
  if (last) bytes += MatrixBytes(model.output()) + c.vocab_size * sizeof(float);
  bytes += (4 * c.embedding_length + 2 * c.q_width() + 2 * c.kv_width() + 2 * c.feed_forward_length +
            c.head_count * context) * sizeof(float);
  return bytes;
}

Status BuildStage(const LlamaModel& model, bool on_device, int64_t context, bool first, bool last, Stage* stage) {
  const ModelConfig& c = model.config();
  const CudaStage& s = stage->layout;
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(s.device), "cudaSetDevice"));
  stage->layers.resize(s.end_layer - s.first_layer);
  for (int64_t i = s.first_layer; i < s.end_layer; ++i) {
    const LayerWeights& w = model.layers()[i];
    DeviceLayer& d = stage->layers[i - s.first_layer];
    RIGLM_RETURN_IF_ERROR(BindMatrix(w.attn_q, "attn_q", on_device, &d.q));
    RIGLM_RETURN_IF_ERROR(BindMatrix(w.attn_k, "attn_k", on_device, &d.k));
    RIGLM_RETURN_IF_ERROR(BindMatrix(w.attn_v, "attn_v", on_device, &d.v));
    RIGLM_RETURN_IF_ERROR(BindMatrix(w.attn_output, "attn_output", on_device, &d.o));
    RIGLM_RETURN_IF_ERROR(BindMatrix(w.ffn_gate, "ffn_gate", on_device, &d.gate));
    RIGLM_RETURN_IF_ERROR(BindMatrix(w.ffn_up, "ffn_up", on_device, &d.up));
    RIGLM_RETURN_IF_ERROR(BindMatrix(w.ffn_down, "ffn_down", on_device, &d.down));
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
  if (first) {
    RIGLM_RETURN_IF_ERROR(BindMatrix(model.token_embedding(), "token_embd", on_device, &stage->embedding));
    RIGLM_RETURN_IF_ERROR(stage->token.Upload(nullptr, sizeof(int32_t)));
  }
  if (last) RIGLM_RETURN_IF_ERROR(UploadVector(model.output_norm(), &stage->output_norm));
  RIGLM_RETURN_IF_ERROR(UploadVector(model.rope_inv_freq(), &stage->inv_freq));
  const size_t f = sizeof(float);
  RIGLM_RETURN_IF_ERROR(stage->x.Upload(nullptr, c.embedding_length * f));
  RIGLM_RETURN_IF_ERROR(stage->xn.Upload(nullptr, c.embedding_length * f));
  RIGLM_RETURN_IF_ERROR(stage->q.Upload(nullptr, c.q_width() * f));
  RIGLM_RETURN_IF_ERROR(stage->k.Upload(nullptr, c.kv_width() * f));
  RIGLM_RETURN_IF_ERROR(stage->v.Upload(nullptr, c.kv_width() * f));
  RIGLM_RETURN_IF_ERROR(stage->attn.Upload(nullptr, c.q_width() * f));
  RIGLM_RETURN_IF_ERROR(stage->tmp.Upload(nullptr, c.embedding_length * f));
  RIGLM_RETURN_IF_ERROR(stage->gate.Upload(nullptr, c.feed_forward_length * f));
  RIGLM_RETURN_IF_ERROR(stage->up.Upload(nullptr, c.feed_forward_length * f));
  RIGLM_RETURN_IF_ERROR(stage->scores.Upload(nullptr, static_cast<size_t>(c.head_count) * context * f));
  if (last) RIGLM_RETURN_IF_ERROR(stage->logits.Upload(nullptr, c.vocab_size * f));
  return Status::Ok();
}

// The last stage's output head. A tied head is the embedding, which a streamed model holds on
// the first stage's GPU only: another GPU gets its own copy.
Status BindOutput(const LlamaModel& model, bool on_device, const Stage& first, Stage* last) {
  const cpu::WeightMatrix& head = model.output();
  const bool tied = head.data == model.token_embedding().data;
  if (tied && first.layout.device == last->layout.device) {
    last->output.type = head.type;
    last->output.rows = head.rows;
    last->output.cols = head.cols;
    last->output.data = first.embedding.data;
    return Status::Ok();
  }
  if (!on_device || !tied) {
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(last->layout.device), "cudaSetDevice"));
    return BindMatrix(head, "output", on_device, &last->output);
  }
  RIGLM_RETURN_IF_ERROR(BindMatrix(head, "output", /*on_device=*/true, &last->output));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(last->layout.device), "cudaSetDevice"));
  RIGLM_RETURN_IF_ERROR(last->output.owned.Upload(nullptr, MatrixBytes(head)));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpyPeer(last->output.owned.ptr, last->layout.device, head.data, first.layout.device,
                                                 MatrixBytes(head)), "copy of the tied output head"));
  last->output.data = last->output.owned.ptr;
  return Status::Ok();
}

}  // namespace

struct CudaModel::Impl {
  const LlamaModel* model = nullptr;
  int64_t context = 0;
  std::vector<Stage> stages;
};

CudaModel::CudaModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaModel::~CudaModel() = default;

Result<std::unique_ptr<CudaModel>> CudaModel::Create(const LlamaModel& model, int device, int64_t context) {
  return Create(model, {{"cuda:" + std::to_string(device), device, 0, model.config().block_count, 0}}, context);
}

Result<std::unique_ptr<CudaModel>> CudaModel::Create(const LlamaModel& model, const std::vector<CudaStage>& stages,
                                                     int64_t context) {
  std::vector<PipelineStage> layout;
  for (const CudaStage& s : stages) layout.push_back({s.name, s.first_layer, s.end_layer});
  RIGLM_RETURN_IF_ERROR(CheckStages(layout, model.config().block_count));
  const bool on_device = model.matrices_on_device();
  auto impl = std::make_unique<Impl>();
  impl->model = &model;
  impl->context = context;
  impl->stages.resize(stages.size());
  for (size_t i = 0; i < stages.size(); ++i) {
    const bool first = i == 0, last = i + 1 == stages.size();
    const uint64_t need = StageBytes(model, stages[i], first, last, context);
    if (stages[i].memory_cap != 0 && need > stages[i].memory_cap) {
      return OutOfMemory(stages[i].name + ": layers " + std::to_string(stages[i].first_layer) + "-" +
                         std::to_string(stages[i].end_layer - 1) + " with a " + std::to_string(context) +
                         "-position KV cache need " + FormatBytes(need) + ", over its " + FormatBytes(stages[i].memory_cap));
    }
    impl->stages[i].layout = stages[i];
    RIGLM_RETURN_IF_ERROR(BuildStage(model, on_device, context, first, last, &impl->stages[i]));
    // Hidden states go straight from GPU to GPU where the two can reach each other.
    if (i > 0 && stages[i - 1].device != stages[i].device) {
      int can = 0;
      if (cudaDeviceCanAccessPeer(&can, stages[i].device, stages[i - 1].device) == cudaSuccess && can) {
        const cudaError_t e = cudaDeviceEnablePeerAccess(stages[i - 1].device, 0);
        if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled) return CheckCuda(e, "cudaDeviceEnablePeerAccess");
        cudaGetLastError();  // "already enabled" is not an error for later calls
      }
    }
  }
  RIGLM_RETURN_IF_ERROR(BindOutput(model, on_device, impl->stages.front(), &impl->stages.back()));
  return std::unique_ptr<CudaModel>(new CudaModel(std::move(impl)));
}

Status CudaModel::Decode(int32_t token, int64_t position, std::vector<float>* logits) {
  Impl& m = *impl_;
  const ModelConfig& c = m.model->config();
  if (token < 0 || token >= c.vocab_size) return InvalidArgument("token " + std::to_string(token) + " is outside the vocabulary");
  if (position < 0 || position >= m.context) return InvalidArgument("position " + std::to_string(position) + " is past the context");
  auto f = [](DeviceBuffer& b) { return static_cast<float*>(b.ptr); };
  auto mv = [&](const DeviceMatrix& w, DeviceBuffer& in, DeviceBuffer& out) {
    return MatVec(w.type, w.data, w.rows, w.cols, f(in), f(out), nullptr);
  };
  const int heads = static_cast<int>(c.head_count), kv_heads = static_cast<int>(c.head_count_kv);
  const int head_dim = static_cast<int>(c.head_dim), rot = static_cast<int>(c.rope_dims);
  const bool neox = c.rope_style == cpu::RopeStyle::kNeox;
  const float eps = static_cast<float>(c.rms_norm_eps), scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const size_t hidden_bytes = c.embedding_length * sizeof(float);

  Stage& first = m.stages.front();
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(first.layout.device), "cudaSetDevice"));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpy(first.token.ptr, &token, sizeof token, cudaMemcpyHostToDevice), "token upload"));
  RIGLM_RETURN_IF_ERROR(GatherRows(first.embedding.type, first.embedding.data, c.embedding_length,
                                   static_cast<const int32_t*>(first.token.ptr), 1, f(first.x), nullptr));
  for (size_t si = 0; si < m.stages.size(); ++si) {
    Stage& s = m.stages[si];
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(s.layout.device), "cudaSetDevice"));
    if (si > 0) {
      // Ordered after the previous stage's work and before this one's (legacy default streams).
      const Stage& prev = m.stages[si - 1];
      RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpyPeer(s.x.ptr, s.layout.device, prev.x.ptr, prev.layout.device, hidden_bytes),
                                      "hidden state to the next stage"));
    }
    for (DeviceLayer& l : s.layers) {
      RIGLM_RETURN_IF_ERROR(RmsNorm(f(s.x), f(l.attn_norm), f(s.xn), 1, c.embedding_length, eps, nullptr));
      RIGLM_RETURN_IF_ERROR(mv(l.q, s.xn, s.q));
      RIGLM_RETURN_IF_ERROR(mv(l.k, s.xn, s.k));
      RIGLM_RETURN_IF_ERROR(mv(l.v, s.xn, s.v));
      if (c.has_qkv_bias) {
        AddKernel<<<Blocks(c.q_width()), 256>>>(f(s.q), f(l.bias_q), c.q_width());
        AddKernel<<<Blocks(c.kv_width()), 256>>>(f(s.k), f(l.bias_k), c.kv_width());
        AddKernel<<<Blocks(c.kv_width()), 256>>>(f(s.v), f(l.bias_v), c.kv_width());
      }
      RIGLM_RETURN_IF_ERROR(Rope(f(s.q), heads, head_dim, rot, position, f(s.inv_freq), neox, nullptr));
      RIGLM_RETURN_IF_ERROR(Rope(f(s.k), kv_heads, head_dim, rot, position, f(s.inv_freq), neox, nullptr));
      __half* key_row = static_cast<__half*>(l.keys.ptr) + position * c.kv_width();
      __half* value_row = static_cast<__half*>(l.values.ptr) + position * c.kv_width();
      ToHalfKernel<<<Blocks(c.kv_width()), 256>>>(f(s.k), key_row, c.kv_width());
      ToHalfKernel<<<Blocks(c.kv_width()), 256>>>(f(s.v), value_row, c.kv_width());
      RIGLM_RETURN_IF_ERROR(AttendDecode(f(s.q), l.keys.ptr, l.values.ptr, position + 1, heads, kv_heads, head_dim, scale,
                                         f(s.scores), f(s.attn), nullptr));
      RIGLM_RETURN_IF_ERROR(mv(l.o, s.attn, s.tmp));
      AddKernel<<<Blocks(c.embedding_length), 256>>>(f(s.x), f(s.tmp), c.embedding_length);
      RIGLM_RETURN_IF_ERROR(RmsNorm(f(s.x), f(l.ffn_norm), f(s.xn), 1, c.embedding_length, eps, nullptr));
      RIGLM_RETURN_IF_ERROR(mv(l.gate, s.xn, s.gate));
      RIGLM_RETURN_IF_ERROR(mv(l.up, s.xn, s.up));
      RIGLM_RETURN_IF_ERROR(SwiGlu(f(s.gate), f(s.up), c.feed_forward_length, f(s.gate), nullptr));
      RIGLM_RETURN_IF_ERROR(mv(l.down, s.gate, s.tmp));
      AddKernel<<<Blocks(c.embedding_length), 256>>>(f(s.x), f(s.tmp), c.embedding_length);
    }
  }
  Stage& last = m.stages.back();
  RIGLM_RETURN_IF_ERROR(RmsNorm(f(last.x), f(last.output_norm), f(last.xn), 1, c.embedding_length, eps, nullptr));
  RIGLM_RETURN_IF_ERROR(mv(last.output, last.xn, last.logits));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaGetLastError(), "decode step"));
  RIGLM_ASSIGN_OR_RETURN(*logits, last.logits.Download<float>(c.vocab_size));
  return Status::Ok();
}

uint64_t CudaModel::device_bytes() const {
  uint64_t total = 0;
  auto matrix = [](const DeviceMatrix& w) { return w.data ? RowBytes(w.type, w.cols) * w.rows : 0; };
  for (const Stage& s : impl_->stages) {
    total += matrix(s.embedding) + matrix(s.output);
    for (const DeviceLayer& l : s.layers) {
      for (const DeviceMatrix* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) total += matrix(*w);
      total += l.keys.bytes + l.values.bytes;
    }
  }
  return total;
}

}  // namespace riglm::cuda
