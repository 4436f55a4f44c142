# Fails when a kernel object compiled for an ISA (kernels/avx2/, kernels/avx512/) holds code that
# can run on a CPU without that ISA, before or outside the CPUID dispatch:
# - a static initializer: it runs when the program starts, on every CPU. A table built at start-up
#   in the AVX-512 kernels (vpbroadcastb) killed riglm with SIGILL before main on every CPU
#   without AVX-512 for nine days; the CI machines all had AVX-512;
# - a weak (inline or template) function whose code uses VEX or EVEX instructions: the linker
#   keeps one copy of each, and when it keeps this one, code outside the dispatch calls it.
# Arguments: -DOBJECTS="a.o|b.o|..." -DOBJDUMP=path -DNM=path
string(REPLACE "|" ";" objects "${OBJECTS}")
set(checked 0)
foreach(object ${objects})
  if(NOT object MATCHES "/kernels/(avx2|avx512)/[^/]*\\.o$")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  execute_process(COMMAND "${NM}" --defined-only "${object}" OUTPUT_VARIABLE symbols RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${object}")
  endif()
  # C++ dynamic initialization (GCC names it _GLOBAL__sub_I_<first symbol>). A sanitizer's own
  # constructors (_sub_I_00099_1) are allowed, and checked for vector instructions below.
  if(symbols MATCHES " _GLOBAL__sub_I_")
    message(FATAL_ERROR "${object} has a static initializer: it runs at start-up on CPUs without its ISA "
                        "(build the value at compile time, constexpr, or inside the kernel)")
  endif()
  string(REGEX MATCHALL "[0-9a-f]+ ([WV] [^\n]+|[tT] _sub_I_[^\n]+)" outside "${symbols}")
  foreach(entry ${outside})
    string(REGEX REPLACE "^[0-9a-f]+ [WVtT] " "" symbol "${entry}")
    execute_process(COMMAND "${OBJDUMP}" -d --no-show-raw-insn "--disassemble=${symbol}" "${object}"
                    OUTPUT_VARIABLE listing RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
      message(FATAL_ERROR "${OBJDUMP} -d failed on ${object}")
    endif()
    if(listing MATCHES "\t(v[a-z0-9]+|k[a-z]+[bwdq]) ")
      message(FATAL_ERROR "${object}: ${symbol} (weak or a constructor) uses ${CMAKE_MATCH_1}; the linker may keep this copy "
                          "for callers outside the CPUID dispatch (make it internal to the file or inline)")
    endif()
  endforeach()
endforeach()
message(STATUS "${checked} ISA kernel objects: no static initializers, no vector instructions outside the dispatch")
if(checked LESS 2)
  message(FATAL_ERROR "found ${checked} ISA kernel objects among the engine's objects")
endif()
