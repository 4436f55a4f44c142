// GPU inventory through NVML, against a fake libnvidia-ml (tests/fake_nvml.cpp) that describes a
// rig with one GPU on an x1 riser; and the driverless machine every CI runner is.
#include <gtest/gtest.h>

#include <cstdlib>

#include "device/device.h"
#include "device/nvml.h"
#include "test_support.h"

namespace riglm {
namespace {

// NVML is loaded once per process, so every in-process check uses the fake library.
class DevicesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("RIGLM_NVML_LIBRARY", RIGLM_FAKE_NVML, 1); }
};

TEST_F(DevicesTest, InventoryReadsEveryFieldAndFlagsTheDegradedLink) {
  auto gpus = ReadNvmlInventory();
  ASSERT_TRUE(gpus.ok()) << gpus.status().ToString();
  ASSERT_EQ(gpus->size(), 2u);
  const GpuInventory& a = (*gpus)[0];
  EXPECT_EQ(a.name, "NVIDIA GeForce RTX 3060");
  EXPECT_EQ(a.pci_bus_id, "00000000:01:00.0");
  EXPECT_EQ(a.total_bytes, uint64_t{12} << 30);
  EXPECT_EQ(a.free_bytes, uint64_t{11} << 30);
  EXPECT_EQ(a.link.generation, 1);
  EXPECT_EQ(a.link.width, 1);
  EXPECT_EQ(a.max_link.generation, 3);
  EXPECT_EQ(a.max_link.width, 16);
  EXPECT_TRUE(a.link_degraded());
  EXPECT_DOUBLE_EQ(a.power_w, 35.5);
  EXPECT_DOUBLE_EQ(a.power_limit_w, 170.0);
  EXPECT_EQ(a.temperature_c, 41);
  EXPECT_NEAR(a.memory_bytes_per_s, 360e9, 1e9);  // 192-bit GDDR6 at 15 Gbps
  EXPECT_FALSE((*gpus)[1].link_degraded());
  EXPECT_NEAR((*gpus)[1].memory_bytes_per_s, 936e9, 1e9);
}

// The planner sees GPUs with the generation the link can run at (idle links drop to gen 1) and
// the lanes it really has.
TEST_F(DevicesTest, DetectedDevicesIncludeTheGpusForThePlanner) {
  const std::vector<DeviceInfo> devices = DetectDevices();
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[0].kind, DeviceKind::kCpu);
  EXPECT_EQ(devices[1].name, "cuda:0");
  EXPECT_EQ(devices[1].kind, DeviceKind::kCuda);
  EXPECT_EQ(devices[1].link.generation, 3);
  EXPECT_EQ(devices[1].link.width, 1);
  EXPECT_LT(devices[1].usable_bytes(), devices[1].free_bytes);
  EXPECT_EQ(devices[2].link.ToString(), "PCIe 4.0 x16");
}

TEST_F(DevicesTest, DeviceListsNameGpusAndSplitOneIntoLogicalDevices) {
  auto one = ParseDeviceList("cuda:1");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, "cuda:1");
  EXPECT_EQ((*one)[0].kind, DeviceKind::kCuda);
  EXPECT_NEAR((*one)[0].memory_bytes_per_s, 936e9, 1e9);

  // Three pipeline stages on GPU 0 (12 GiB, 11 free): a third of its memory each.
  auto split = ParseDeviceList("3xcuda:0,cuda:1");
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_EQ(split->size(), 4u);
  EXPECT_EQ((*split)[0].name, "cuda:0");
  EXPECT_EQ((*split)[1].name, "cuda:0.1");
  EXPECT_EQ((*split)[2].name, "cuda:0.2");
  EXPECT_EQ((*split)[3].name, "cuda:1");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*split)[i].total_bytes, (uint64_t{12} << 30) / 3);
    EXPECT_EQ((*split)[i].free_bytes, (uint64_t{11} << 30) / 3);
  }
  EXPECT_EQ((*split)[3].total_bytes, (*one)[0].total_bytes);
  EXPECT_EQ(ParseDeviceList("cuda").value()[0].name, "cuda:0");

  auto missing = ParseDeviceList("cuda:2");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("2 GPU(s)"), std::string::npos) << missing.status().ToString();
}

TEST_F(DevicesTest, DevicesCommandPrintsTheRigAndWarnsAboutTheRiser) {
  auto rig = testing::RunRiglm("devices", std::string("RIGLM_NVML_LIBRARY=") + RIGLM_FAKE_NVML + " ");
  ASSERT_EQ(rig.exit_code, 0) << rig.err;
  EXPECT_NE(rig.out.find("NVIDIA GeForce RTX 3060"), std::string::npos) << rig.out;
  EXPECT_NE(rig.out.find("PCIe 1.0 x1 (degraded)"), std::string::npos) << rig.out;
  EXPECT_NE(rig.out.find("check the riser"), std::string::npos) << rig.out;
  auto json = testing::RunRiglm("devices -o json", std::string("RIGLM_NVML_LIBRARY=") + RIGLM_FAKE_NVML + " ");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"degraded\": true"), std::string::npos) << json.out;

  // No driver: one clear line, and the CPU.
  auto bare = testing::RunRiglm("devices", "RIGLM_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1 ");
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_NE(bare.out.find("cpu:"), std::string::npos) << bare.out;
  EXPECT_NE(bare.out.find("no NVIDIA driver"), std::string::npos) << bare.out;
}

}  // namespace
}  // namespace riglm
