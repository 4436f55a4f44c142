// For CUDA tests: skip when this machine has no usable GPU (CI), fail instead when
// RIGLM_REQUIRE_GPU=1 (scripts/gpu-check.sh), so a GPU check cannot pass by skipping.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_runtime.h"

#define REQUIRE_GPU()                                                                  \
  do {                                                                                 \
    if (::riglm::Result<::riglm::CudaRuntimeInfo> probe = ::riglm::ProbeCudaRuntime(); \
        !probe.ok()) {                                                                 \
      const char* require = std::getenv("RIGLM_REQUIRE_GPU");                          \
      if (require && std::string(require) == "1") FAIL() << probe.status().ToString(); \
      GTEST_SKIP() << "no GPU: " << probe.status().ToString();                         \
    }                                                                                  \
  } while (0)
