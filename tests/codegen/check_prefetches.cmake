# Fails unless the object code of the packed kernels (AVX-512 and AVX2) and of the AVX-512
# bandwidth reader holds software prefetches (prefetchnta). GCC 12 once dropped all the kernels'
# requests without a word (a loop of _mm_prefetch under a runtime flag), and every kernel ran
# without them for weeks; only the instructions tell. It did so again, silently, to every
# PrefetchAhead of more than 5 lines (Q8_0's 9-line columns among them): the packed kernels must
# hold 9 requests in a row (unless sanitizers put their checks between them), and call no
# prefetch helper (a call saves every vector register, and GCC deletes calls to a function that
# holds nothing but prefetches).
# Arguments: -DOBJECTS="a.o|b.o|..." -DOBJDUMP=path -DINSTRUMENTED=ON|OFF
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
  execute_process(COMMAND "${OBJDUMP}" -dr --no-show-raw-insn "${found}" OUTPUT_VARIABLE listing RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${OBJDUMP} failed on ${found}")
  endif()
  string(REGEX MATCHALL "prefetchnta" requests "${listing}")
  list(LENGTH requests count)
  message(STATUS "${name}: ${count} prefetchnta instructions")
  if(count LESS 2)
    message(FATAL_ERROR "${name} asks for no lines ahead (${count} prefetchnta): the compiler dropped the requests")
  endif()
  if(name MATCHES "^packed_matmul")
    string(REPEAT "[^\n]*prefetchnta[^\n]*\n" 9 nine_in_a_row)
    if(NOT INSTRUMENTED AND NOT listing MATCHES "${nine_in_a_row}")
      message(FATAL_ERROR "${name} never asks for 9 lines in a row (a Q8_0 column): the compiler dropped requests")
    endif()
    # A call to a local copy has no relocation; one to a shared copy has.
    string(REGEX MATCH "[^\n]*(call|jmp|R_X86_64_[A-Z0-9]+)[^\n]*Prefetch(Ahead|Line)[^\n]*" call "${listing}")
    if(call)
      message(FATAL_ERROR "${name} calls a prefetch helper instead of holding its requests inline: ${call}")
    endif()
  endif()
endforeach()
