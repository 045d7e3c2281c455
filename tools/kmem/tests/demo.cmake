# The README's first command prints exactly this: a golden-output test.
add_test(NAME kmem_demo_golden
  COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:kmem_tool> -DARGS=demo
    -DGOLDEN=${PROJECT_SOURCE_DIR}/tests/golden/demo.txt -P ${PROJECT_SOURCE_DIR}/cmake/golden.cmake)
