// Helpers shared by the tests: where ../shared lives, synthetic models, temp files, and
// running the riglm binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "format/gguf_writer.h"
#include "engine/pipeline.h"
#include "model/config.h"
#include "model/llama_model.h"
#include "server/model_registry.h"

namespace riglm::testing {

// RIGLM_SHARED_DIR, else the ../shared beside the source tree.
std::string SharedDir();
std::string SharedPath(const std::string& relative);
std::string Stories260KPath();

// Greedy continuation of `prompt` (n tokens, 2 threads), with the model's own tokenizer, run
// as the pipeline `stages` (empty: one stage).
std::string GreedyText(const LlamaModel& model, const std::string& prompt, int64_t n,
                       const std::vector<PipelineStage>& stages = {});

// Names a variant (an ISA's kernel) this CPU cannot run, in a test whose other variants still run.
// Not gtest's "[  SKIPPED ]" marker: ctest reports a test whose output holds it as skipped, and
// passes it, even when its other variants failed.
void SayVariantNotRun(const std::string& variant);

// The whole content of a file.
std::string ReadFileBytes(const std::string& path);

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct SyntheticModelSpec {
  std::string architecture = "llama";  // or "qwen2"
  int64_t layers = 2;
  int64_t embedding = 64;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t ffn = 128;
  int64_t vocab = 96;
  int64_t context = 256;
  DType weight_type = DType::kF32;  // of the big matrices; norms stay F32
  bool tied_output = false;
  uint64_t seed = 1;
};

// A GGUF with random weights (scaled so activations stay reasonable) and a small byte-level
// SentencePiece vocabulary: <unk>, <s>, </s>, then <0x00>..., then filler pieces.
GgufWriter SyntheticModel(const SyntheticModelSpec& spec);

// Deterministic pseudo-random floats in [-scale, scale).
std::vector<float> RandomFloats(size_t n, uint64_t seed, float scale = 1.0f);

// Both steps of the CPU rotary embedding (RopeAngles, RopeRotate) for one token at `position`.
void RopeOneToken(float* x, int num_heads, int head_dim, int rot_dims, int64_t position, const float* inv_freq,
                  cpu::RopeStyle style);

// Bytes of `values` stored as `type` (quantizing as needed).
std::vector<uint8_t> EncodeAs(DType type, const std::vector<float>& values);

// A model as `riglm serve` loads it, with a small scheduler (4 sequences of 512 tokens).
Result<std::unique_ptr<ServedModel>> LoadServedForTest(const std::string& name, const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the riglm binary with `args` (already shell-quoted where needed); `env` is put before
// the command ("NAME=value ").
CommandResult RunRiglm(const std::string& args, const std::string& env = "");
std::string ShellQuote(const std::string& s);

}  // namespace riglm::testing
