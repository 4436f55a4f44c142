#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/generator.h"
#include "loader/model_loader.h"
#include "model/synthetic.h"
#include "tensor/quant.h"
#include "tokenizer/tokenizer.h"

namespace riglm::testing {

std::string SharedDir() {
  const char* env = std::getenv("RIGLM_SHARED_DIR");
  return env != nullptr && *env != '\0' ? env : RIGLM_SHARED_DIR_DEFAULT;
}

std::string SharedPath(const std::string& relative) { return SharedDir() + "/" + relative; }
std::string Stories260KPath() { return SharedPath("models/stories260K.gguf"); }

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "riglm-test-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  path_ = made != nullptr ? made : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (path_ != "/tmp") std::filesystem::remove_all(path_, ec);
}

std::vector<float> RandomFloats(size_t n, uint64_t seed, float scale) {
  std::vector<float> out(n);
  uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  for (float& f : out) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    f = scale * (static_cast<float>(state >> 40) / static_cast<float>(1ull << 24) * 2.0f - 1.0f);
  }
  return out;
}

void RopeOneToken(float* x, int num_heads, int head_dim, int rot_dims, int64_t position, const float* inv_freq,
                  cpu::RopeStyle style) {
  std::vector<float> cos_sin(rot_dims);
  cpu::RopeAngles(position, inv_freq, rot_dims, cos_sin.data());
  cpu::RopeRotate(x, num_heads, head_dim, rot_dims, cos_sin.data(), style);
}

std::vector<uint8_t> EncodeAs(DType type, const std::vector<float>& values) {
  std::vector<uint8_t> bytes(RowBytes(type, values.size()));
  QuantizeRow(type, values.data(), bytes.data(), static_cast<int64_t>(values.size()));
  return bytes;
}

GgufWriter SyntheticModel(const SyntheticModelSpec& s) {
  GgufWriter w;
  const std::string& a = s.architecture;
  w.SetString("general.architecture", a);
  w.SetString("general.name", "synthetic-" + a);
  w.SetUint32(a + ".context_length", static_cast<uint32_t>(s.context));
  w.SetUint32(a + ".embedding_length", static_cast<uint32_t>(s.embedding));
  w.SetUint32(a + ".block_count", static_cast<uint32_t>(s.layers));
  w.SetUint32(a + ".feed_forward_length", static_cast<uint32_t>(s.ffn));
  w.SetUint32(a + ".attention.head_count", static_cast<uint32_t>(s.heads));
  w.SetUint32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
  w.SetFloat32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetFloat32(a + ".rope.freq_base", a == "qwen2" ? 1000000.0f : 10000.0f);

  AddSyntheticVocabulary(&w, s.vocab);

  uint64_t seed = s.seed * 1000;
  const int64_t head_dim = s.embedding / s.heads;
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, DType type) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    w.AddTensor(name, type, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)},
                EncodeAs(type, RandomFloats(cols * rows, ++seed, scale * 1.7f)));
  };
  auto vector = [&](const std::string& name, int64_t n, float base, float spread) {
    std::vector<float> v = RandomFloats(n, ++seed, spread);
    for (float& x : v) x += base;
    w.AddTensor(name, DType::kF32, {static_cast<uint64_t>(n)}, EncodeAs(DType::kF32, v));
  };
  matrix("token_embd.weight", s.embedding, s.vocab, s.weight_type);
  vector("output_norm.weight", s.embedding, 1.0f, 0.2f);
  if (!s.tied_output) matrix("output.weight", s.embedding, s.vocab, s.weight_type);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    vector(p + "attn_norm.weight", s.embedding, 1.0f, 0.2f);
    matrix(p + "attn_q.weight", s.embedding, s.heads * head_dim, s.weight_type);
    matrix(p + "attn_k.weight", s.embedding, s.kv_heads * head_dim, s.weight_type);
    matrix(p + "attn_v.weight", s.embedding, s.kv_heads * head_dim, s.weight_type);
    matrix(p + "attn_output.weight", s.heads * head_dim, s.embedding, s.weight_type);
    if (a == "qwen2") {
      vector(p + "attn_q.bias", s.heads * head_dim, 0.0f, 0.5f);
      vector(p + "attn_k.bias", s.kv_heads * head_dim, 0.0f, 0.5f);
      vector(p + "attn_v.bias", s.kv_heads * head_dim, 0.0f, 0.5f);
    }
    vector(p + "ffn_norm.weight", s.embedding, 1.0f, 0.2f);
    matrix(p + "ffn_gate.weight", s.embedding, s.ffn, s.weight_type);
    matrix(p + "ffn_up.weight", s.embedding, s.ffn, s.weight_type);
    matrix(p + "ffn_down.weight", s.ffn, s.embedding, s.weight_type);
  }
  return w;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

Result<std::unique_ptr<ServedModel>> LoadServedForTest(const std::string& name, const std::string& path) {
  auto served = std::make_unique<ServedModel>();
  RIGLM_ASSIGN_OR_RETURN(served->model, LoadModelFrom(path));
  RIGLM_ASSIGN_OR_RETURN(served->tokenizer, Tokenizer::FromGguf(served->model->gguf()));
  served->name = name;
  served->path = path;
  SchedulerOptions options;
  options.parallel = 4;
  options.context = 512;
  options.threads = 2;
  options.max_queue = 32;
  served->scheduler = std::make_unique<Scheduler>(*served->model, *served->tokenizer, options);
  return served;
}

CommandResult RunRiglm(const std::string& args, const std::string& env) {
  TempDir dir;
  const std::string out_path = dir.File("stdout"), err_path = dir.File("stderr");
  const std::string command = env + ShellQuote(RIGLM_BINARY) + " " + args + " >" + ShellQuote(out_path) + " 2>" +
                              ShellQuote(err_path) + " </dev/null";
  CommandResult result;
  int status = std::system(command.c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

std::string GreedyText(const LlamaModel& model, const std::string& prompt, int64_t n,
                       const std::vector<PipelineStage>& stages) {
  auto tokenizer = Tokenizer::FromGguf(model.gguf());
  if (!tokenizer.ok()) return "tokenizer: " + tokenizer.status().ToString();
  ThreadPool pool(2);
  Generator generator(model, **tokenizer, pool, 256, {}, stages);
  EncodeOptions encode;
  encode.add_bos = (*tokenizer)->vocab().add_bos;
  GenerateOptions options;
  options.max_tokens = n;
  options.sampling.temperature = 0.0f;
  std::string text;
  auto stats = generator.Generate((*tokenizer)->Encode(prompt, encode), options, [&](std::string_view piece) {
    text += piece;
    return true;
  });
  if (!stats.ok()) return "generate: " + stats.status().ToString();
  return text;
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void SayVariantNotRun(const std::string& variant) {
  std::printf("[   INFO   ] not run: %s (this CPU cannot run it)\n", variant.c_str());
}

}  // namespace riglm::testing
