// End-to-end tests of the riglm binary.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "backend/cpu/packed.h"
#include "test_support.h"

namespace riglm {
namespace {

using testing::RunRiglm;
using testing::ShellQuote;

// The greedy sample the model's author published, from ../shared/models/README.md (the
// fenced block after "Published reference output").
std::string PublishedSample() {
  std::ifstream f(testing::SharedPath("models/README.md"));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string readme = ss.str();
  const size_t section = readme.find("Published reference output");
  const size_t open = readme.find("```\n", section);
  const size_t close = readme.find("\n```", open + 4);
  if (section == std::string::npos || open == std::string::npos || close == std::string::npos) return "";
  return readme.substr(open + 4, close - open - 4);
}

TEST(CliTest, Stories260KGreedyMatchesPublishedSample) {
  const std::string expected = PublishedSample();
  ASSERT_GT(expected.size(), 500u);
  const auto r = RunRiglm("run -m " + ShellQuote(testing::Stories260KPath()) + " -p '' --temp 0 -n 256");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = r.out;
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);  // the README allows one leading space
  EXPECT_EQ(text.substr(0, expected.size()), expected);
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos);
}

// The same through a 3-stage pipeline of CPU devices.
TEST(CliTest, Stories260KPipelineOfThreeCpuDevicesMatchesToo) {
  const std::string expected = PublishedSample();
  const auto r = RunRiglm("run -m " + ShellQuote(testing::Stories260KPath()) + " -p '' --temp 0 -n 256 --devices cpu,cpu,cpu");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = r.out;
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);
  EXPECT_EQ(text.substr(0, expected.size()), expected);
  EXPECT_NE(r.err.find("pipeline: cpu layers 0-1, cpu1 layers 2-3, cpu2 layers 4-4"), std::string::npos) << r.err;
  const auto sim = RunRiglm("run -m " + ShellQuote(testing::Stories260KPath()) + " -p hi --devices sim:12GiB");
  EXPECT_NE(sim.exit_code, 0);
  EXPECT_NE(sim.err.find("simulated devices can only be planned"), std::string::npos) << sim.err;
}

TEST(CliTest, RunHonoursMaxTokensAndStopStrings) {
  const std::string model = ShellQuote(testing::Stories260KPath());
  const auto stopped = RunRiglm("run -m " + model + " -p 'Once upon a time' --temp 0 -n 200 --stop Lily");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(stopped.out, "Once upon a time, there was a little girl named \n");
  EXPECT_NE(stopped.err.find("stop: stop"), std::string::npos);
  const auto sampled = RunRiglm("run -m " + model + " -p 'Once' --temp 0.8 --seed 3 -n 20");
  const auto again = RunRiglm("run -m " + model + " -p 'Once' --temp 0.8 --seed 3 -n 20");
  EXPECT_EQ(sampled.out, again.out);
  EXPECT_NE(sampled.err.find("generation:     20 tokens"), std::string::npos) << sampled.err;
}

TEST(CliTest, ClearErrorsForBadInput) {
  const auto missing = RunRiglm("run -m /nonexistent.gguf -p hi");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/nonexistent.gguf: no such file"), std::string::npos) << missing.err;

  testing::TempDir dir;
  const std::string junk = dir.File("junk.gguf");
  std::ofstream(junk) << "this is not a model";
  const auto bad = RunRiglm("run -m " + ShellQuote(junk) + " -p hi");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("not a GGUF file"), std::string::npos) << bad.err;

  const auto temp = RunRiglm("run -m " + ShellQuote(testing::Stories260KPath()) + " -p hi --temp -1");
  EXPECT_NE(temp.exit_code, 0);
  EXPECT_NE(temp.err.find("temperature"), std::string::npos) << temp.err;

  // stories260K has heads of 8: a Q8_0 KV cache cannot hold them, and says why.
  const auto q8_kv = RunRiglm("run -m " + ShellQuote(testing::Stories260KPath()) + " -p hi -ctk q8_0");
  EXPECT_NE(q8_kv.exit_code, 0);
  EXPECT_NE(q8_kv.err.find("multiple of 32"), std::string::npos) << q8_kv.err;
  const auto bad_kv = RunRiglm("run -m " + ShellQuote(testing::Stories260KPath()) + " -p hi -ctv q3");
  EXPECT_NE(bad_kv.exit_code, 0);
  EXPECT_NE(bad_kv.err.find("unknown KV cache type 'q3'"), std::string::npos) << bad_kv.err;

  const auto no_command = RunRiglm("");
  EXPECT_NE(no_command.exit_code, 0);
  const auto help = RunRiglm("run --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--ctx-size"), std::string::npos);
}

TEST(CliTest, PerplexityPrintsFinalEstimate) {
  testing::TempDir dir;
  const std::string text_path = dir.File("text.txt");
  {
    std::ofstream text(text_path);
    for (int i = 0; i < 4; ++i) text << PublishedSample() << "\n";
  }
  const auto r = RunRiglm("perplexity -m " + ShellQuote(testing::Stories260KPath()) + " -f " + ShellQuote(text_path) +
                          " -c 128");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t at = r.out.find("Final estimate: PPL = ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const double ppl = std::stod(r.out.substr(at + 22));
  // The model's own greedy text is very predictable to it.
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 3.0);
  EXPECT_NE(r.out.find(" +/- "), std::string::npos);

  const auto short_text = RunRiglm("perplexity -m " + ShellQuote(testing::Stories260KPath()) + " -f " +
                                   ShellQuote(text_path) + " -c 100000");
  EXPECT_NE(short_text.exit_code, 0);
  EXPECT_NE(short_text.err.find("fewer than one chunk"), std::string::npos) << short_text.err;
}

double FinalPerplexity(const std::string& output) {
  const size_t at = output.find("Final estimate: PPL = ");
  return at == std::string::npos ? -1.0 : std::stod(output.substr(at + 22));
}

// Quality of a Q8_0 conversion: perplexity within 1% of the F32 original.
TEST(CliTest, Q8_0ConversionKeepsPerplexityWithinOnePercent) {
  testing::TempDir dir;
  const std::string q8 = dir.File("stories-q8_0.gguf");
  const auto convert = RunRiglm("quantize " + ShellQuote(testing::Stories260KPath()) + " " + ShellQuote(q8) + " Q8_0");
  ASSERT_EQ(convert.exit_code, 0) << convert.err;
  const std::string text_path = dir.File("text.txt");
  {
    std::ofstream text(text_path);
    for (int i = 0; i < 4; ++i) text << PublishedSample() << "\n";
    std::ifstream license("/usr/share/common-licenses/GPL-3");
    text << license.rdbuf();
  }
  const auto f32 = RunRiglm("perplexity -m " + ShellQuote(testing::Stories260KPath()) + " -f " + ShellQuote(text_path) + " -c 128");
  const auto quant = RunRiglm("perplexity -m " + ShellQuote(q8) + " -f " + ShellQuote(text_path) + " -c 128");
  ASSERT_EQ(f32.exit_code, 0) << f32.err;
  ASSERT_EQ(quant.exit_code, 0) << quant.err;
  const double a = FinalPerplexity(f32.out), b = FinalPerplexity(quant.out);
  ASSERT_GT(a, 1.0);
  EXPECT_LT(std::fabs(b - a) / a, 0.01) << "F32 " << a << " vs Q8_0 " << b;
  // And the file really holds Q8_0 matrices.
  const auto inspect = RunRiglm("bench -m " + ShellQuote(q8) + " -p 0 -n 4 -r 1 -o json");
  EXPECT_NE(inspect.out.find("\"model_type\": \"llama Q8_0\""), std::string::npos) << inspect.out;
  // llama-bench's backend field, with the CPU's instruction set beside it.
  EXPECT_NE(inspect.out.find("\"backends\": \"CPU\""), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find("\"cpu_isa\": \""), std::string::npos) << inspect.out;
}

// `riglm bench -o json` writes llama-bench's records; with -d each test also runs after that
// many tokens in the cache, and its ceiling counts the cache rows every step reads.
TEST(CliTest, BenchJsonHasARecordPerTestAndDepth) {
  const std::string model = ShellQuote(testing::Stories260KPath());
  const auto run = RunRiglm("bench -m " + model + " -p 4 -n 3 -d 0 8 -r 2 -o json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto records = nlohmann::json::parse(run.out);
  ASSERT_TRUE(records.is_array());
  ASSERT_EQ(records.size(), 4u) << run.out;
  const std::vector<std::array<int64_t, 3>> want = {{4, 0, 0}, {0, 3, 0}, {4, 0, 8}, {0, 3, 8}};
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& r = records[i];
    EXPECT_EQ(r.at("n_prompt").get<int64_t>(), want[i][0]) << r;
    EXPECT_EQ(r.at("n_gen").get<int64_t>(), want[i][1]) << r;
    EXPECT_EQ(r.at("n_depth").get<int64_t>(), want[i][2]) << r;
    EXPECT_GT(r.at("avg_ts").get<double>(), 0.0) << r;
    EXPECT_EQ(r.at("samples_ts").size(), 2u) << r;
    for (const char* field : {"stddev_ts", "n_threads", "model_size", "model_type"}) EXPECT_TRUE(r.contains(field)) << field;
  }
  const double ceiling = records[1].at("ceiling_ts").get<double>(), deep = records[3].at("ceiling_ts").get<double>();
  EXPECT_GT(ceiling, 0.0);
  EXPECT_LT(deep, ceiling);  // 8 cached positions add bytes to every step
  EXPECT_EQ(records[0].at("ceiling_ts").get<double>(), 0.0);  // prompts have none

  const auto table = RunRiglm("bench -m " + model + " -p 0 -n 2 -d 5 -r 1");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("| tg2 @ d5 |"), std::string::npos) << table.out;
  for (const char* flag : {"-d", "-p", "-n"}) {
    const auto negative = RunRiglm("bench -m " + model + " " + flag + " -1");
    EXPECT_NE(negative.exit_code, 0) << flag;
    EXPECT_NE(negative.err.find(flag), std::string::npos) << negative.err;
  }
  const auto nothing = RunRiglm("bench -m " + model + " -p 0 -n 0");
  EXPECT_NE(nothing.exit_code, 0);
  EXPECT_NE(nothing.err.find("nothing to measure"), std::string::npos) << nothing.err;
}

// More threads than CPUs work, with a warning: a waiting thread yields its CPU, where it had kept
// the threads it waited for off it (3 threads on 2 CPUs decoded ~300 times slower than 2).
TEST(CliTest, MoreThreadsThanCpusRunWithAWarning) {
  const unsigned cpus = std::thread::hardware_concurrency();
  const int threads = static_cast<int>(std::max(cpus, 1u)) * 4;
  const auto run = RunRiglm("bench -m " + ShellQuote(testing::Stories260KPath()) + " -p 8 -n 8 -r 1 -o json -t " +
                            std::to_string(threads));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("more threads than the"), std::string::npos) << run.err;
  const auto records = nlohmann::json::parse(run.out);
  ASSERT_EQ(records.size(), 2u) << run.out;
  EXPECT_EQ(records[1].at("n_threads").get<int>(), threads);
}

// On CPUs with packed kernels, bench says whether they prefetch their weights and why;
// RIGLM_WEIGHT_PREFETCH overrides the measurement.
TEST(CliTest, BenchSaysWhetherWeightsArePrefetched) {
  if (cpu::PackedIsa() == cpu::Isa::kScalar) GTEST_SKIP() << "no packed kernels without AVX2";
  const std::string model = ShellQuote(testing::Stories260KPath());
  const auto measured = RunRiglm("bench -m " + model + " -p 0 -n 2 -r 1");
  ASSERT_EQ(measured.exit_code, 0) << measured.err;
  EXPECT_NE(measured.out.find("against plain ones)"), std::string::npos) << measured.out;
  for (const char* value : {"0", "1"}) {
    const auto forced = RunRiglm("bench -m " + model + " -p 0 -n 2 -r 1", std::string("RIGLM_WEIGHT_PREFETCH=") + value + " ");
    ASSERT_EQ(forced.exit_code, 0) << forced.err;
    const std::string want = std::string("weights prefetched by software: ") + (value[0] == '1' ? "yes" : "no") +
                             " (RIGLM_WEIGHT_PREFETCH)";
    EXPECT_NE(forced.out.find(want), std::string::npos) << forced.out;
  }
}

// `riglm bench --devices cuda:N` measures a GPU; where there is none (or no CUDA in the build)
// it says so and fails, and a malformed device is named.
TEST(CliTest, BenchOnAGpuThatIsNotThereSaysWhy) {
  const std::string model = ShellQuote(testing::Stories260KPath());
  const auto missing = RunRiglm("bench -m " + model + " -p 0 -n 4 -r 1 --devices cuda:7");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_TRUE(missing.err.find("CUDA") != std::string::npos || missing.err.find("cuda:7") != std::string::npos)
      << missing.err;
  const auto malformed = RunRiglm("bench -m " + model + " -p 0 -n 4 -r 1 --devices cuda:x");
  EXPECT_NE(malformed.exit_code, 0);
  EXPECT_NE(malformed.err.find("cuda:N"), std::string::npos) << malformed.err;
}

}  // namespace
}  // namespace riglm
