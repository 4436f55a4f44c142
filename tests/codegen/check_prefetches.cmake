# Fails unless the packed AVX-512 kernels' object code holds software prefetches of the weights
# (prefetchnta). GCC 12 once dropped them all without a word (a loop of _mm_prefetch under a
# runtime flag), and every kernel ran without them for weeks; only the instructions tell.
# Arguments: -DOBJECTS="a.o|b.o|..." -DOBJDUMP=path
string(REPLACE "|" ";" objects "${OBJECTS}")
set(kernel_object "")
foreach(object ${objects})
  if(object MATCHES "packed_matmul_avx512")
    set(kernel_object "${object}")
  endif()
endforeach()
if(kernel_object STREQUAL "")
  message(FATAL_ERROR "no packed_matmul_avx512 object among the engine's objects")
endif()
execute_process(COMMAND "${OBJDUMP}" -d --no-show-raw-insn "${kernel_object}"
                OUTPUT_VARIABLE listing RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} failed on ${kernel_object}")
endif()
string(REGEX MATCHALL "prefetchnta" requests "${listing}")
list(LENGTH requests count)
message(STATUS "${kernel_object}: ${count} prefetchnta instructions")
if(count LESS 16)
  message(FATAL_ERROR "the packed kernels ask for no weights ahead (${count} prefetchnta): "
                      "the compiler dropped the requests")
endif()
