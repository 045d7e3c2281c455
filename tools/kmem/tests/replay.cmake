# kmem replay and the trace format: the parser's unit test, a golden text
# output, bad traces, and the checks of check_replay.py (JSON, both --as
# modes, failures, stdin, pictures, a generated trace of 200000 operations).
set(KMEM_REPLAY_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/tests/replay)

# The parser alone: trace.c and util.c need nothing of kmem but its headers.
add_executable(test_kmem_trace ${KMEM_REPLAY_TESTS}/test_trace.c
  ${CMAKE_CURRENT_SOURCE_DIR}/trace.c ${CMAKE_CURRENT_SOURCE_DIR}/util.c)
target_include_directories(test_kmem_trace PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
  ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/include)
target_compile_options(test_kmem_trace PRIVATE ${KMEM_WARNINGS} -Wno-missing-prototypes)
add_test(NAME kmem_trace_parse COMMAND test_kmem_trace)

# The book's example, marks only: exactly this text.
add_test(NAME kmem_replay_golden
  COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:kmem_tool>
    "-DARGS=replay --mem 256K --every 0 --no-progress ${PROJECT_SOURCE_DIR}/examples/traces/book.trace"
    -DGOLDEN=${KMEM_REPLAY_TESTS}/book.txt -P ${PROJECT_SOURCE_DIR}/cmake/golden.cmake)
# External fragmentation on purpose, and an allocation that fails.
add_test(NAME kmem_replay_fragment_golden
  COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:kmem_tool>
    "-DARGS=replay --mem 256K --every 0 --no-progress ${PROJECT_SOURCE_DIR}/examples/traces/fragment.trace"
    -DGOLDEN=${KMEM_REPLAY_TESTS}/fragment.txt -P ${PROJECT_SOURCE_DIR}/cmake/golden.cmake)

add_test(NAME kmem_replay_bad_traces
  COMMAND sh ${KMEM_REPLAY_TESTS}/bad_traces.sh $<TARGET_FILE:kmem_tool>
    ${CMAKE_CURRENT_BINARY_DIR}/replay-bad)

set(kmem_replay_tests kmem_trace_parse kmem_replay_golden kmem_replay_fragment_golden
  kmem_replay_bad_traces)
# The big trace: 200000 operations, scaled down under TSan (3 s become 18).
if(KMEM_TSAN)
  set(kmem_replay_big_ops 50000)
else()
  set(kmem_replay_big_ops 200000)
endif()
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  foreach(check json modes failures stdin pictures big)
    add_test(NAME kmem_replay_${check}
      COMMAND ${Python3_EXECUTABLE} ${KMEM_REPLAY_TESTS}/check_replay.py $<TARGET_FILE:kmem_tool>
        ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/replay-${check} ${check}
        ${kmem_replay_big_ops})
    list(APPEND kmem_replay_tests kmem_replay_${check})
  endforeach()
else()
  message(STATUS "python3 not found: kmem replay's JSON and trace checks are skipped")
endif()
# A few seconds each; the big trace takes longer under the sanitizers.
set_tests_properties(${kmem_replay_tests} PROPERTIES TIMEOUT 120)
