#include "backend/cuda/cuda_model.h"

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_buffer.h"
#include "util/strings.h"

namespace riglm::cuda {
namespace {

__global__ void AddKernel(float* x, const float* __restrict__ y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

// x (rows x width) += bias, row by row.
__global__ void AddBiasKernel(float* x, const float* __restrict__ bias, int64_t rows, int64_t width) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < rows * width) x[i] += bias[i % width];
}

// The most prompt tokens one pass through the layers takes: bounds the prompt activations and
// F16 tiles each stage keeps.
constexpr int64_t kPromptChunk = 512;

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

// Activations of up to `rows` tokens, row-major.
struct Activations {
  int64_t rows = 0;
  DeviceBuffer x, xn, q, k, v, attn, tmp, gate, up;
  DeviceBuffer tokens;  // first stage: the token ids, read by the embedding lookup

  Status Allocate(const ModelConfig& c, int64_t n) {
    rows = n;
    const size_t f = sizeof(float) * n;
    RIGLM_RETURN_IF_ERROR(x.Upload(nullptr, c.embedding_length * f));
    RIGLM_RETURN_IF_ERROR(xn.Upload(nullptr, c.embedding_length * f));
    RIGLM_RETURN_IF_ERROR(q.Upload(nullptr, c.q_width() * f));
    RIGLM_RETURN_IF_ERROR(k.Upload(nullptr, c.kv_width() * f));
    RIGLM_RETURN_IF_ERROR(v.Upload(nullptr, c.kv_width() * f));
    RIGLM_RETURN_IF_ERROR(attn.Upload(nullptr, c.q_width() * f));
    RIGLM_RETURN_IF_ERROR(tmp.Upload(nullptr, c.embedding_length * f));
    RIGLM_RETURN_IF_ERROR(gate.Upload(nullptr, c.feed_forward_length * f));
    RIGLM_RETURN_IF_ERROR(up.Upload(nullptr, c.feed_forward_length * f));
    return tokens.Upload(nullptr, n * sizeof(int32_t));
  }
  static uint64_t Bytes(const ModelConfig& c, int64_t n) {
    return (3 * c.embedding_length + 2 * c.q_width() + 2 * c.kv_width() + 2 * c.feed_forward_length) * sizeof(float) * n +
           n * sizeof(int32_t);
  }
};

// Decoded weights and rounded activations for cuBLAS (MatMulRows) and its handle.
struct PromptScratch {
  DeviceBuffer half_weights, half_x;
  cublasHandle_t cublas = nullptr;
  PromptScratch() = default;
  PromptScratch(const PromptScratch&) = delete;
  PromptScratch& operator=(const PromptScratch&) = delete;
  ~PromptScratch() {
    if (cublas) cublasDestroy(cublas);
  }
  static int64_t LargestMatrix(const ModelConfig& c) {
    return std::max({c.q_width() * c.embedding_length, c.feed_forward_length * c.embedding_length});
  }
  static int64_t WidestInput(const ModelConfig& c) { return std::max({c.embedding_length, c.q_width(), c.feed_forward_length}); }
  static uint64_t Bytes(const ModelConfig& c, int64_t rows) {
    return (LargestMatrix(c) + rows * WidestInput(c)) * sizeof(__half);
  }
};

// A stage's stream, the event the next stage waits on, and its decode step captured as a CUDA
// graph on first use (a few hundred kernel launches replayed as one).
struct StageStream {
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  cudaGraphExec_t decode_graph = nullptr;
  DeviceBuffer position;  // int64: the decode step's position, copied in at each step
  StageStream() = default;
  StageStream(const StageStream&) = delete;
  StageStream& operator=(const StageStream&) = delete;
  ~StageStream() {
    if (decode_graph) cudaGraphExecDestroy(decode_graph);
    if (done) cudaEventDestroy(done);
    if (stream) cudaStreamDestroy(stream);
  }
};

struct Stage {
  CudaStage layout;
  StageStream run;
  std::vector<DeviceLayer> layers;
  DeviceBuffer inv_freq;
  Activations one;     // a generated token
  Activations prompt;  // up to kPromptChunk prompt tokens
  PromptScratch scratch;
  int attend_splits = 1;   // decode attention: split-K shares of the keys
  DeviceBuffer scores;     // decode attention: heads x AttendScoreCapacity(context, attend_splits)
  DeviceBuffer partials;   // decode attention: heads x attend_splits x (head_dim + 2)
  DeviceMatrix embedding;  // first stage
  DeviceMatrix output;     // last stage
  DeviceBuffer output_norm, logits;
};

// Split-K shares for decode attention: about 256 keys of the full context each, at most 32 (with
// 32 heads, up to 1024 blocks: every multiprocessor busy at long contexts).
int AttendSplits(int64_t context) { return static_cast<int>(std::clamp<int64_t>(context / 256, 1, 32)); }

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
  const int64_t chunk = std::min(kPromptChunk, context);
  const int splits = AttendSplits(context);
  bytes += Activations::Bytes(c, 1) + Activations::Bytes(c, chunk) + PromptScratch::Bytes(c, chunk) +
           c.head_count * (AttendScoreCapacity(context, splits) + splits * (c.head_dim + 2)) * sizeof(float);
  return bytes;
}

Status BuildStage(const LlamaModel& model, bool on_device, int64_t context, bool first, bool last, Stage* stage) {
  const ModelConfig& c = model.config();
  const CudaStage& s = stage->layout;
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(s.device), "cudaSetDevice"));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaStreamCreateWithFlags(&stage->run.stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaEventCreateWithFlags(&stage->run.done, cudaEventDisableTiming), "cudaEventCreate"));
  RIGLM_RETURN_IF_ERROR(stage->run.position.Upload(nullptr, sizeof(int64_t)));
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
  if (first) RIGLM_RETURN_IF_ERROR(BindMatrix(model.token_embedding(), "token_embd", on_device, &stage->embedding));
  if (last) RIGLM_RETURN_IF_ERROR(UploadVector(model.output_norm(), &stage->output_norm));
  RIGLM_RETURN_IF_ERROR(UploadVector(model.rope_inv_freq(), &stage->inv_freq));
  const int64_t chunk = std::min(kPromptChunk, context);
  RIGLM_RETURN_IF_ERROR(stage->one.Allocate(c, 1));
  RIGLM_RETURN_IF_ERROR(stage->prompt.Allocate(c, chunk));
  RIGLM_RETURN_IF_ERROR(stage->scratch.half_weights.Upload(nullptr, PromptScratch::LargestMatrix(c) * sizeof(__half)));
  RIGLM_RETURN_IF_ERROR(stage->scratch.half_x.Upload(nullptr, chunk * PromptScratch::WidestInput(c) * sizeof(__half)));
  if (cublasCreate(&stage->scratch.cublas) != CUBLAS_STATUS_SUCCESS) return Internal(s.name + ": cublasCreate failed");
  stage->attend_splits = AttendSplits(context);
  RIGLM_RETURN_IF_ERROR(stage->scores.Upload(nullptr, c.head_count * AttendScoreCapacity(context, stage->attend_splits) * sizeof(float)));
  RIGLM_RETURN_IF_ERROR(stage->partials.Upload(nullptr, c.head_count * stage->attend_splits * (c.head_dim + 2) * sizeof(float)));
  if (last) RIGLM_RETURN_IF_ERROR(stage->logits.Upload(nullptr, c.vocab_size * sizeof(float)));
  return Status::Ok();
}

float* F(DeviceBuffer& b) { return static_cast<float*>(b.ptr); }

// Stage `s`'s layers on its stream for `n` tokens at positions position..position + n - 1, whose
// hidden states are in a.x: more than one through MatMulRows and the prompt attention; one
// through the matrix-vector kernels, its position read from s.run.position (so that a captured
// graph replays the step at each new position).
Status RunLayers(const ModelConfig& c, Stage& s, Activations& a, int64_t n, int64_t position) {
  void* stream = s.run.stream;
  const auto* device_position = static_cast<const int64_t*>(s.run.position.ptr);
  const int heads = static_cast<int>(c.head_count), kv_heads = static_cast<int>(c.head_count_kv);
  const int head_dim = static_cast<int>(c.head_dim), rot = static_cast<int>(c.rope_dims);
  const bool neox = c.rope_style == cpu::RopeStyle::kNeox;
  const float eps = static_cast<float>(c.rms_norm_eps), scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t embd = c.embedding_length;
  auto mm = [&](const DeviceMatrix& w, DeviceBuffer& in, DeviceBuffer& out) {
    if (n == 1) return MatVec(w.type, w.data, w.rows, w.cols, F(in), F(out), stream);
    return MatMulRows(s.scratch.cublas, w.type, w.data, w.rows, w.cols, F(in), n, F(out), s.scratch.half_weights.ptr,
                      s.scratch.half_x.ptr, stream);
  };
  auto add_bias = [&](DeviceBuffer& x, DeviceBuffer& bias, int64_t width) {
    AddBiasKernel<<<Blocks(n * width), 256, 0, static_cast<cudaStream_t>(stream)>>>(F(x), F(bias), n, width);
  };
  for (DeviceLayer& l : s.layers) {
    RIGLM_RETURN_IF_ERROR(RmsNorm(F(a.x), F(l.attn_norm), F(a.xn), n, embd, eps, stream));
    RIGLM_RETURN_IF_ERROR(mm(l.q, a.xn, a.q));
    RIGLM_RETURN_IF_ERROR(mm(l.k, a.xn, a.k));
    RIGLM_RETURN_IF_ERROR(mm(l.v, a.xn, a.v));
    if (c.has_qkv_bias) {
      add_bias(a.q, l.bias_q, c.q_width());
      add_bias(a.k, l.bias_k, c.kv_width());
      add_bias(a.v, l.bias_v, c.kv_width());
    }
    if (n == 1) {
      RIGLM_RETURN_IF_ERROR(RopeAt(F(a.q), heads, head_dim, rot, device_position, F(s.inv_freq), neox, stream));
      RIGLM_RETURN_IF_ERROR(RopeAt(F(a.k), kv_heads, head_dim, rot, device_position, F(s.inv_freq), neox, stream));
      RIGLM_RETURN_IF_ERROR(StoreKvAt(F(a.k), F(a.v), l.keys.ptr, l.values.ptr, c.kv_width(), device_position, stream));
      RIGLM_RETURN_IF_ERROR(AttendDecodeAt(F(a.q), l.keys.ptr, l.values.ptr, device_position, heads, kv_heads, head_dim, scale,
                                           s.attend_splits, F(s.scores), F(s.partials), F(a.attn), stream));
    } else {
      RIGLM_RETURN_IF_ERROR(Rope(F(a.q), n, heads, head_dim, rot, position, F(s.inv_freq), neox, stream));
      RIGLM_RETURN_IF_ERROR(Rope(F(a.k), n, kv_heads, head_dim, rot, position, F(s.inv_freq), neox, stream));
      __half* key_rows = static_cast<__half*>(l.keys.ptr) + position * c.kv_width();
      __half* value_rows = static_cast<__half*>(l.values.ptr) + position * c.kv_width();
      RIGLM_RETURN_IF_ERROR(FloatsToHalves(F(a.k), n * c.kv_width(), key_rows, stream));
      RIGLM_RETURN_IF_ERROR(FloatsToHalves(F(a.v), n * c.kv_width(), value_rows, stream));
      RIGLM_RETURN_IF_ERROR(AttendPrompt(F(a.q), l.keys.ptr, l.values.ptr, position, n, heads, kv_heads, head_dim, scale,
                                         F(a.attn), stream));
    }
    RIGLM_RETURN_IF_ERROR(mm(l.o, a.attn, a.tmp));
    AddKernel<<<Blocks(n * embd), 256, 0, static_cast<cudaStream_t>(stream)>>>(F(a.x), F(a.tmp), n * embd);
    RIGLM_RETURN_IF_ERROR(RmsNorm(F(a.x), F(l.ffn_norm), F(a.xn), n, embd, eps, stream));
    RIGLM_RETURN_IF_ERROR(mm(l.gate, a.xn, a.gate));
    RIGLM_RETURN_IF_ERROR(mm(l.up, a.xn, a.up));
    RIGLM_RETURN_IF_ERROR(SwiGlu(F(a.gate), F(a.up), n * c.feed_forward_length, F(a.gate), stream));
    RIGLM_RETURN_IF_ERROR(mm(l.down, a.gate, a.tmp));
    AddKernel<<<Blocks(n * embd), 256, 0, static_cast<cudaStream_t>(stream)>>>(F(a.x), F(a.tmp), n * embd);
  }
  return CheckCuda(cudaGetLastError(), "layer kernels");
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

// Page-locked host memory the streams copy from and to asynchronously: a prompt chunk's token
// ids, the position, the logits.
struct PinnedHost {
  int32_t* tokens = nullptr;
  int64_t* position = nullptr;
  float* logits = nullptr;
  PinnedHost() = default;
  PinnedHost(const PinnedHost&) = delete;
  PinnedHost& operator=(const PinnedHost&) = delete;
  ~PinnedHost() {
    for (void* p : {static_cast<void*>(tokens), static_cast<void*>(position), static_cast<void*>(logits)}) {
      if (p) cudaFreeHost(p);
    }
  }
  Status Allocate(int64_t max_tokens, int64_t vocab) {
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaHostAlloc(reinterpret_cast<void**>(&tokens), max_tokens * sizeof(int32_t), cudaHostAllocPortable), "pinned memory"));
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaHostAlloc(reinterpret_cast<void**>(&position), sizeof(int64_t), cudaHostAllocPortable), "pinned memory"));
    return CheckCuda(cudaHostAlloc(reinterpret_cast<void**>(&logits), vocab * sizeof(float), cudaHostAllocPortable), "pinned memory");
  }
};

// Set RIGLM_CUDA_GRAPH=0 to launch the decode step's kernels one by one (to compare, or to
// work around a driver that cannot capture them).
bool GraphsWanted() {
  const char* v = std::getenv("RIGLM_CUDA_GRAPH");
  return v == nullptr || std::string(v) != "0";
}

struct ModelState {
  const LlamaModel* model = nullptr;
  int64_t context = 0;
  PinnedHost host;
  bool graphs = GraphsWanted();
  std::vector<Stage> stages;  // after `host`: destroyed first, with the streams that use it
};

// Stage `si`'s share of one step, enqueued on its stream: the first stage uploads the token ids
// and looks up their embeddings, the others take the hidden states from the previous stage by
// peer copy; then the layers; with `head`, the last stage's output head on the last token and
// the logits copied to pinned host memory.
Status EnqueueStage(ModelState& m, size_t si, int64_t n, int64_t position, bool head) {
  const ModelConfig& c = m.model->config();
  Stage& s = m.stages[si];
  cudaStream_t stream = s.run.stream;
  Activations& a = n == 1 ? s.one : s.prompt;
  if (si == 0) {
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpyAsync(a.tokens.ptr, m.host.tokens, n * sizeof(int32_t), cudaMemcpyHostToDevice, stream),
                                    "token upload"));
    RIGLM_RETURN_IF_ERROR(GatherRows(s.embedding.type, s.embedding.data, c.embedding_length,
                                     static_cast<const int32_t*>(a.tokens.ptr), n, F(a.x), stream));
  } else {
    Stage& prev = m.stages[si - 1];
    Activations& from = n == 1 ? prev.one : prev.prompt;
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpyPeerAsync(a.x.ptr, s.layout.device, from.x.ptr, prev.layout.device,
                                                        n * c.embedding_length * sizeof(float), stream),
                                    "hidden states to the next stage"));
  }
  if (n == 1) {
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaMemcpyAsync(s.run.position.ptr, m.host.position, sizeof(int64_t), cudaMemcpyHostToDevice, stream),
                                    "position upload"));
  }
  RIGLM_RETURN_IF_ERROR(RunLayers(c, s, a, n, position));
  if (!head) return Status::Ok();
  const int64_t row = (n - 1) * c.embedding_length;
  RIGLM_RETURN_IF_ERROR(RmsNorm(F(a.x) + row, F(s.output_norm), F(a.xn), 1, c.embedding_length, static_cast<float>(c.rms_norm_eps), stream));
  RIGLM_RETURN_IF_ERROR(MatVec(s.output.type, s.output.data, s.output.rows, s.output.cols, F(a.xn), F(s.logits), stream));
  return CheckCuda(cudaMemcpyAsync(m.host.logits, s.logits.ptr, c.vocab_size * sizeof(float), cudaMemcpyDeviceToHost, stream),
                   "logits download");
}

// Captures stage `si`'s decode step (EnqueueStage for one token, with the head on the last
// stage) as a graph. The capture runs nothing; the caller launches it.
Status CaptureDecode(ModelState& m, size_t si) {
  Stage& s = m.stages[si];
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaStreamBeginCapture(s.run.stream, cudaStreamCaptureModeThreadLocal), "graph capture"));
  const Status work = EnqueueStage(m, si, 1, 0, si + 1 == m.stages.size());
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s.run.stream, &graph);
  const Status captured = work.ok() ? CheckCuda(end, "graph capture") : work;
  if (!captured.ok()) {
    if (graph) cudaGraphDestroy(graph);
    return captured;
  }
  const cudaError_t instantiated = cudaGraphInstantiate(&s.run.decode_graph, graph, 0);
  cudaGraphDestroy(graph);
  return CheckCuda(instantiated, "graph instantiation");
}

}  // namespace

struct CudaModel::Impl : ModelState {};

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
  RIGLM_RETURN_IF_ERROR(impl->host.Allocate(std::min(kPromptChunk, context), model.config().vocab_size));
  impl->stages = std::vector<Stage>(stages.size());  // Stage cannot move: built in place
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
  return Run(std::span<const int32_t>(&token, 1), position, logits);
}

Status CudaModel::Prefill(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits) {
  for (size_t begin = 0; begin < tokens.size(); begin += kPromptChunk) {
    const size_t n = std::min<size_t>(kPromptChunk, tokens.size() - begin);
    RIGLM_RETURN_IF_ERROR(Run(tokens.subspan(begin, n), position + static_cast<int64_t>(begin),
                              begin + n == tokens.size() ? logits : nullptr));
  }
  return Status::Ok();
}

Status CudaModel::Run(std::span<const int32_t> tokens, int64_t position, std::vector<float>* logits) {
  Impl& m = *impl_;
  const ModelConfig& c = m.model->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return InvalidArgument("no tokens to run");
  for (int32_t token : tokens) {
    if (token < 0 || token >= c.vocab_size) return InvalidArgument("token " + std::to_string(token) + " is outside the vocabulary");
  }
  if (position < 0 || position + n > m.context) {
    return InvalidArgument("positions " + std::to_string(position) + "-" + std::to_string(position + n - 1) +
                           " are past the context of " + std::to_string(m.context));
  }
  std::copy(tokens.begin(), tokens.end(), m.host.tokens);
  *m.host.position = position;
  const bool head = logits != nullptr;
  for (size_t si = 0; si < m.stages.size(); ++si) {
    Stage& s = m.stages[si];
    RIGLM_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(s.layout.device), "cudaSetDevice"));
    if (si > 0) {
      Stage& prev = m.stages[si - 1];
      RIGLM_RETURN_IF_ERROR(CheckCuda(cudaEventRecord(prev.run.done, prev.run.stream), "cudaEventRecord"));
      RIGLM_RETURN_IF_ERROR(CheckCuda(cudaStreamWaitEvent(s.run.stream, prev.run.done, 0), "cudaStreamWaitEvent"));
    }
    if (n == 1 && head && m.graphs) {
      if (s.run.decode_graph == nullptr) {
        if (Status captured = CaptureDecode(m, si); !captured.ok()) {
          std::fprintf(stderr, "riglm: %s: %s; launching the decode step's kernels one by one\n", s.layout.name.c_str(),
                       captured.message().c_str());
          m.graphs = false;
        }
      }
      if (m.graphs) {
        RIGLM_RETURN_IF_ERROR(CheckCuda(cudaGraphLaunch(s.run.decode_graph, s.run.stream), "graph launch"));
        continue;
      }
    }
    RIGLM_RETURN_IF_ERROR(EnqueueStage(m, si, n, position, head && si + 1 == m.stages.size()));
  }
  // The last stage waited on every earlier one: when it is done, so is the step, and the pinned
  // buffers may be written again.
  Stage& last = m.stages.back();
  RIGLM_RETURN_IF_ERROR(CheckCuda(cudaStreamSynchronize(last.run.stream), "decode step"));
  if (head) logits->assign(m.host.logits, m.host.logits + c.vocab_size);
  return Status::Ok();
}

}  // namespace riglm::cuda
