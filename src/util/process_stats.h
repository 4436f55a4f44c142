// What the operating system says about this process.
#pragma once

#include <cstdint>

namespace riglm {

// Peak resident set size so far (VmHWM), in bytes; 0 where /proc is not available.
uint64_t PeakResidentBytes();

}  // namespace riglm
