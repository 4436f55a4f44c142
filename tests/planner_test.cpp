// The planner on the rig this project is for: 5 x 12 GiB GPUs on x4, x8, x8, x8, x16 links.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "device/device.h"
#include "model/synthetic.h"
#include "planner/planner.h"
#include "test_support.h"

namespace riglm {
namespace {

const char* kRig = "sim:12GiB@pcie3x4,sim:12GiB@pcie3x8,sim:12GiB@pcie3x8,sim:12GiB@pcie3x8,sim:12GiB@pcie3x16";

ModelCost ShapeCost(const std::string& preset, const std::string& type) {
  auto shape = FindModelShape(preset);
  auto recipe = QuantRecipe::Parse(type);
  auto writer = SyntheticModelWriter(*shape, *recipe, 1);
  const std::vector<uint8_t> header = writer->HeaderBytes();
  auto gguf = GgufFile::Parse(header, writer->TotalBytes(), preset);
  EXPECT_TRUE(gguf.ok()) << gguf.status().ToString();
  auto config = ModelConfig::FromGguf(*gguf);
  return ModelCostFromGguf(*gguf, *config, {});
}

std::vector<DeviceInfo> Rig() {
  auto devices = ParseDeviceList(kRig);
  EXPECT_TRUE(devices.ok());
  return *devices;
}

TEST(PlannerTest, Llama70bQ4KMFitsTheRigAt8K) {
  const ModelCost model = ShapeCost("llama-3.1-70b", "Q4_K_M");
  EXPECT_GT(model.weight_bytes(), uint64_t{38} << 30);
  PlanOptions options;
  options.context = 8192;
  const Plan plan = MakePlan(model, Rig(), options);
  ASSERT_TRUE(plan.fits) << plan.message;
  int64_t next = 0;
  for (const DevicePlan& p : plan.devices) {
    EXPECT_LE(p.total_bytes, p.device.usable_bytes()) << p.device.name;
    EXPECT_EQ(p.first_layer, next) << p.device.name;  // contiguous, in order, none empty
    EXPECT_GT(p.num_layers(), 10);
    next = p.end_layer;
    // Balanced: each device within a few percent of the others' use.
    EXPECT_GT(static_cast<double>(p.total_bytes), 0.9 * static_cast<double>(plan.devices[0].total_bytes));
  }
  EXPECT_EQ(next, 80);
  EXPECT_TRUE(plan.devices.front().has_embedding);
  EXPECT_TRUE(plan.devices.back().has_output);
  // Bandwidth model: 360 GB/s devices reading ~40 GiB per token: 8 to 9 tokens/s.
  EXPECT_GT(plan.predicted_tokens_per_s, 7.0);
  EXPECT_LT(plan.predicted_tokens_per_s, 9.5);
  // Only activations cross: 4 hops of 8192 floats in, plus the logits back to the host.
  EXPECT_LT(plan.link_bytes_per_token, uint64_t{1} << 20);
  const auto json = PlanToJson(plan);
  EXPECT_TRUE(json["fits"].get<bool>());
  EXPECT_EQ(json["devices"].size(), 5u);
  EXPECT_EQ(json["devices"][4]["last_layer"].get<int64_t>(), 79);
  for (const char* key : {"device", "first_layer", "last_layer", "weight_bytes", "kv_bytes", "total_bytes", "capacity_bytes"}) {
    EXPECT_TRUE(json["devices"][0].contains(key)) << key;
  }
}

TEST(PlannerTest, WhatCannotFitSaysWhatWould) {
  const ModelCost model = ShapeCost("llama-3.1-70b", "Q4_K_M");
  PlanOptions options;
  options.context = 16384;
  options.parallel = 4;
  const Plan plan = MakePlan(model, Rig(), options);
  EXPECT_FALSE(plan.fits);
  EXPECT_NE(plan.message.find("does not fit"), std::string::npos) << plan.message;
  EXPECT_NE(plan.message.find("--ctx "), std::string::npos) << plan.message;
  EXPECT_NE(plan.message.find("--parallel "), std::string::npos) << plan.message;
  EXPECT_NE(plan.message.find("more device"), std::string::npos) << plan.message;

  // The weights alone are too big for three cards: a smaller quantization is suggested.
  auto three = ParseDeviceList("3xsim:12GiB@pcie3x4");
  const Plan small = MakePlan(model, *three, PlanOptions{});
  EXPECT_FALSE(small.fits);
  EXPECT_NE(small.message.find("smaller quantization"), std::string::npos) << small.message;
}

TEST(PlannerTest, ManualSplitIsHonouredOrRefusedWithTheReason) {
  const ModelCost model = ShapeCost("llama-3.1-70b", "Q4_K_M");
  PlanOptions options;
  options.context = 8192;
  options.tensor_split = {1, 1, 1, 1, 1};
  const Plan even = MakePlan(model, Rig(), options);
  ASSERT_TRUE(even.fits) << even.message;
  for (const DevicePlan& p : even.devices) EXPECT_EQ(p.num_layers(), 16) << p.device.name;

  options.tensor_split = {4, 1, 1, 1, 1};
  const Plan lopsided = MakePlan(model, Rig(), options);
  EXPECT_FALSE(lopsided.fits);
  EXPECT_NE(lopsided.message.find("sim0 would need"), std::string::npos) << lopsided.message;

  options.tensor_split = {1, 1};
  const Plan wrong = MakePlan(model, Rig(), options);
  EXPECT_FALSE(wrong.fits);
  EXPECT_NE(wrong.message.find("2 entries for 5 devices"), std::string::npos) << wrong.message;
}

TEST(PlannerTest, CpuTakesOnlyWhatTheGpusCannotHold) {
  const ModelCost model = ShapeCost("llama-3.1-8b", "Q4_K_M");
  auto devices = ParseDeviceList("cpu,sim:4GiB@pcie3x1");
  ASSERT_TRUE(devices.ok());
  (*devices)[0].free_bytes = (*devices)[0].total_bytes = uint64_t{32} << 30;  // a roomy host, whatever runs the test
  PlanOptions options;
  options.context = 2048;
  const Plan plan = MakePlan(model, *devices, options);
  ASSERT_TRUE(plan.fits) << plan.message;
  EXPECT_GT(plan.devices[0].num_layers(), 0);  // the CPU runs the first stages
  EXPECT_GT(plan.devices[1].num_layers(), 0);
  EXPECT_TRUE(plan.devices[1].has_output);
  EXPECT_GT(static_cast<double>(plan.devices[1].total_bytes), 0.8 * static_cast<double>(plan.devices[1].device.usable_bytes()));
}

TEST(PlannerTest, DeviceSpecs) {
  auto rig = ParseDeviceList("5xsim:12GiB@pcie3x4@936GB/s,cpu");
  ASSERT_TRUE(rig.ok()) << rig.status().ToString();
  ASSERT_EQ(rig->size(), 6u);
  EXPECT_EQ((*rig)[0].total_bytes, uint64_t{12} << 30);
  EXPECT_EQ((*rig)[4].name, "sim4");
  EXPECT_EQ((*rig)[0].link.ToString(), "PCIe 3.0 x4");
  EXPECT_NEAR((*rig)[0].link.bytes_per_s(), 3.94e9, 0.01e9);
  EXPECT_DOUBLE_EQ((*rig)[0].memory_bytes_per_s, 936e9);
  EXPECT_EQ((*rig)[5].kind, DeviceKind::kCpu);
  auto cpus = ParseDeviceList("cpu,cpu");
  ASSERT_TRUE(cpus.ok());
  EXPECT_EQ((*cpus)[1].name, "cpu1");
  for (const char* bad : {"gpu", "sim:", "sim:12XB", "sim:12GiB@pcie9x4", "sim:12GiB@pcie3x3", "0xcpu", ""}) {
    auto r = ParseDeviceList(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  for (const char* bad : {"cuda:x", "cuda0", "cuda:", "cuda:1234"}) {
    EXPECT_EQ(ParseDeviceList(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace riglm

namespace riglm {
namespace {

// `riglm plan` end to end: JSON with the documented fields, exit code 3 when it does not fit,
// a device file, and a local model planned from its header.
TEST(PlanCommandTest, JsonOutputAndExitCodes) {
  const auto fits = testing::RunRiglm(
      "plan --shape llama-3.1-70b --type Q4_K_M --ctx 8192 -o json --devices "
      "sim:12GiB@pcie3x4,sim:12GiB@pcie3x8,sim:12GiB@pcie3x8,sim:12GiB@pcie3x8,sim:12GiB@pcie3x16");
  ASSERT_EQ(fits.exit_code, 0) << fits.err;
  const auto j = nlohmann::json::parse(fits.out);
  EXPECT_TRUE(j["fits"].get<bool>());
  EXPECT_GT(j["predicted_tokens_per_s"].get<double>(), 0.0);
  ASSERT_EQ(j["devices"].size(), 5u);
  EXPECT_EQ(j["devices"][0]["first_layer"].get<int64_t>(), 0);

  const auto too_big = testing::RunRiglm("plan --shape llama-3.1-70b --type Q8_0 --devices 2xsim:12GiB");
  EXPECT_EQ(too_big.exit_code, 3);
  EXPECT_NE(too_big.out.find("does not fit"), std::string::npos) << too_big.out;

  testing::TempDir dir;
  const std::string rig = dir.File("rig.json");
  std::ofstream(rig) << R"([{"name": "3090", "memory": "24GiB", "pcie": "4x16", "bandwidth_gbps": 936},
                            {"name": "3060", "memory": "12GiB", "pcie": "3x1"}])";
  const auto from_file = testing::RunRiglm("plan --shape llama-3.1-8b --type Q8_0 -o json --devices " + rig);
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  const auto f = nlohmann::json::parse(from_file.out);
  EXPECT_EQ(f["devices"][0]["device"].get<std::string>(), "3090");
  EXPECT_EQ(f["devices"][1]["link"].get<std::string>(), "PCIe 3.0 x1");

  const auto local = testing::RunRiglm("plan -m " + testing::Stories260KPath() + " --devices cpu,cpu");
  EXPECT_EQ(local.exit_code, 0) << local.err;
  EXPECT_NE(local.out.find("cpu1"), std::string::npos) << local.out;

  const auto bad = testing::RunRiglm("plan --shape llama-3.1-8b --devices gpu0");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown device 'gpu0'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace riglm
