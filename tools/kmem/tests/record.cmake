# tools/kmem/tests/record.cmake: KMEM_TRACE (the recorder in
# libkmem-malloc.so, src/malloc/trace_record.c), KMEM_STATS=signal and
# kmem stat. Each case of record/record_test.sh is a test; record_prog is
# the program they run under the library (LD_PRELOAD; linked with nothing
# of kmem's). Not in the sanitizer builds, whose runtimes own malloc; the
# checker of traces needs python3.
find_program(KMEM_PYTHON3 python3)
if(TARGET kmem_malloc AND NOT KMEM_ASAN AND NOT KMEM_TSAN AND KMEM_PYTHON3)
  add_executable(kmem_record_prog ${CMAKE_CURRENT_SOURCE_DIR}/tests/record/record_prog.c)
  target_link_libraries(kmem_record_prog PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
  # -fno-builtin: every malloc and free the program makes is a call.
  target_compile_options(kmem_record_prog PRIVATE ${KMEM_WARNINGS} -fno-builtin)
  foreach(case calls calls_hardened calls_debug threads fork realprog off replay
      stat_exit stat_signal stat_pid)
    string(REGEX MATCH "^stat" is_stat ${case})
    if(is_stat)
      set(name kmem_${case})
    else()
      set(name kmem_record_${case})
    endif()
    add_test(NAME ${name}
      COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/record/record_test.sh ${case}
        $<TARGET_FILE:kmem_malloc> $<TARGET_FILE:kmem_record_prog> $<TARGET_FILE:kmem_tool>
        ${PROJECT_SOURCE_DIR})
    set_tests_properties(${name} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
  endforeach()
else()
  message(STATUS "tools/kmem: the recording tests need libkmem-malloc.so, no sanitizer, python3")
endif()
