# Fails unless the object code of the packed kernels (AVX-512 and AVX2) and of the AVX-512
# bandwidth reader holds software prefetches (prefetchnta). GCC 12 once dropped all the kernels'
# requests without a word (a loop of _mm_prefetch under a runtime flag), and every kernel ran
# without them for weeks; only the instructions tell.
# Arguments: -DOBJECTS="a.o|b.o|..." -DOBJDUMP=path
string(REPLACE "|" ";" objects "${OBJECTS}")
foreach(name packed_matmul_avx512 packed_matmul_avx2 read_avx512)
  set(found "")
  foreach(object ${objects})
    if(object MATCHES "/${name}\\.cpp\\.o$")
      set(found "${object}")
    endif()
  endforeach()
  if(found STREQUAL "")
    message(FATAL_ERROR "no ${name} object among the engine's objects")
  endif()
  execute_process(COMMAND "${OBJDUMP}" -d --no-show-raw-insn "${found}" OUTPUT_VARIABLE listing RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${OBJDUMP} failed on ${found}")
  endif()
  string(REGEX MATCHALL "prefetchnta" requests "${listing}")
  list(LENGTH requests count)
  message(STATUS "${name}: ${count} prefetchnta instructions")
  if(count LESS 2)
    message(FATAL_ERROR "${name} asks for no lines ahead (${count} prefetchnta): the compiler dropped the requests")
  endif()
endforeach()
