# The command's shared parts: snapshots and fragmentation measures.
add_executable(test_kmem_snapshot ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_snapshot.c
  ${CMAKE_CURRENT_SOURCE_DIR}/snapshot.c ${CMAKE_CURRENT_SOURCE_DIR}/frag.c)
target_link_libraries(test_kmem_snapshot PRIVATE kmem_static m)
target_compile_options(test_kmem_snapshot PRIVATE ${KMEM_WARNINGS} -Wno-missing-prototypes)
add_test(NAME kmem_tool_snapshot COMMAND test_kmem_snapshot)
