# tools/kmem/tests/demo.cmake - the tests of `kmem demo` (tools/kmem/demo.c).
#
# This file has two modes. include()d from tools/kmem/CMakeLists.txt, it
# defines the tests. Run with `cmake -P` (as those tests do), it is their
# checker: it runs CMD with ARGS, requires exit status RC (default 0), that
# the standard output matches every regular expression of EXPECT, and that
# every file of FILES exists in OUT and is not empty.
#
# Every test runs in a folder of the build tree, so the pictures the demo
# writes never land in the source tree.

if(CMAKE_SCRIPT_MODE_FILE)
  # The lists come joined by %% (a ';' would split the test's command).
  string(REPLACE "%%" ";" EXPECT "${EXPECT}")
  string(REPLACE "%%" ";" FILES "${FILES}")
  separate_arguments(args UNIX_COMMAND "${ARGS}")
  execute_process(COMMAND ${CMD} ${args} OUTPUT_VARIABLE out ERROR_VARIABLE err
    RESULT_VARIABLE rc)
  if(NOT DEFINED RC)
    set(RC 0)
  endif()
  if(NOT rc EQUAL RC)
    message(FATAL_ERROR "kmem ${ARGS} exited with ${rc}, not ${RC}\n${out}${err}")
  endif()
  foreach(pattern IN LISTS EXPECT)
    if(NOT out MATCHES "${pattern}")
      message(FATAL_ERROR "kmem ${ARGS}: no line matches '${pattern}'; output:\n${out}")
    endif()
  endforeach()
  foreach(name IN LISTS FILES)
    if(NOT EXISTS "${OUT}/${name}")
      message(FATAL_ERROR "kmem ${ARGS} did not write ${OUT}/${name}")
    endif()
    file(SIZE "${OUT}/${name}" size)
    if(size EQUAL 0)
      message(FATAL_ERROR "kmem ${ARGS} wrote ${OUT}/${name} empty")
    endif()
  endforeach()
  return()
endif()

set(demo_dir ${CMAKE_CURRENT_BINARY_DIR}/demo-tests)
file(MAKE_DIRECTORY ${demo_dir})

# The README's first command prints exactly this: a golden-output test. It
# runs with the default --out (kmem-demo, in the working directory), as the
# README's command does, so the output names the folder as a user sees it.
add_test(NAME kmem_demo_golden
  COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:kmem_tool> -DARGS=demo
    -DGOLDEN=${PROJECT_SOURCE_DIR}/tests/golden/demo.txt -P ${PROJECT_SOURCE_DIR}/cmake/golden.cmake
  WORKING_DIRECTORY ${demo_dir})

# kmem_demo_check(NAME ARGS [RC status] [EXPECT regex...] [FILES name...]):
# one run of kmem ARGS, checked by this file in script mode.
function(kmem_demo_check name args)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "RC" "EXPECT;FILES")
  if(NOT DEFINED arg_RC)
    set(arg_RC 0)
  endif()
  list(JOIN arg_EXPECT "%%" expect)
  list(JOIN arg_FILES "%%" files)
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:kmem_tool> "-DARGS=${args}" -DRC=${arg_RC}
      "-DEXPECT=${expect}" "-DFILES=${files}" -DOUT=${demo_dir}/${name}
      -P ${CMAKE_CURRENT_LIST_FILE}
    WORKING_DIRECTORY ${demo_dir})
endfunction()

# The demo's last lines: every checker found the allocators consistent.
set(all_hold "kmem_cache_check\\(obj-3k\\): all invariants hold"
  "kmem_cache_check\\(obj-7k\\): all invariants hold" "kmem_page_check\\(\\): all invariants hold")

# The pictures: every file draw_write_files writes for the demo's timeline.
kmem_demo_check(kmem_demo_files "demo --out ${demo_dir}/kmem_demo_files"
  EXPECT "Pictures of every step .* in ${demo_dir}/kmem_demo_files/:" "report.html" ${all_hold}
  FILES report.html slabs.svg buddy-dma.svg frag.svg 01-buddy-dma.svg 01-slabs.svg)

# Another machine and request tell their own story: 1 MB, 100 KB rounded to
# 128 KB, three splits and three merges.
kmem_demo_check(kmem_demo_1m "demo --mem 1M --request 100K --out ${demo_dir}/kmem_demo_1m"
  EXPECT "get_order\\(102400\\) = 5"
    "Split 1: the 1 MB segment into A_L and A_R \\(512 KB each\\)"
    "Split 3: B_L into C_L and C_R \\(128 KB each\\)"
    "\\|   \\|   \\+-- C_L  128 KB  pfn 0-31     allocated  <- the 100 KB request"
    "C_L satisfies the request: pfn 0-31, physical 0x00000-0x1ffff"
    "Merge 3: A_L \\+ A_R -> the 1 MB segment \\(1 MB\\)"
    ${all_hold})

# A free block of the right size exists (96 KB = 64 KB + 32 KB): no split;
# its buddy lies past the end of memory: no merge.
kmem_demo_check(kmem_demo_no_split "demo --mem 96K --out ${demo_dir}/kmem_demo_no_split"
  EXPECT "A free block of order 3 exists: it is taken whole, nothing is split"
    "Its buddy \\(pfn 24\\) lies outside the zone, so nothing coalesces"
    ${all_hold})

# Requests that fail: larger than all free memory, and larger than the
# largest block. The demo goes on to the slabs and ends with the checks.
kmem_demo_check(kmem_demo_fails "demo --request 1M --out ${demo_dir}/kmem_demo_fails"
  EXPECT "No free block of order 8 or larger: alloc_pages returns NULL, the request fails"
    "Part 2. The slab allocator" ${all_hold})
kmem_demo_check(kmem_demo_too_big "demo --request 8M --out ${demo_dir}/kmem_demo_too_big"
  EXPECT "That is more than the largest block, 2\\^10 pages = 4 MB" ${all_hold})

# A zone with per-CPU lists: an order-0 request refills the list with a
# batch, whose splits and merges the tree shows too.
kmem_demo_check(kmem_demo_pcp "demo --mem 64M --request 4K --out ${demo_dir}/kmem_demo_pcp"
  EXPECT "free, on a per-CPU list" "The call also took 11 more blocks of order 0"
    "drain_all_pages\\(\\) gives every per-CPU block back"
    "Merge 18: A_L \\+ A_R -> the 4 MB block at pfn 15360-16383" ${all_hold})

# A folder that cannot be made (its parent is a file): exit status 1, after
# the whole story and the checks.
file(WRITE ${demo_dir}/not-a-folder "")
kmem_demo_check(kmem_demo_out_fails "demo --out ${demo_dir}/not-a-folder/pictures" RC 1
  EXPECT ${all_hold})

kmem_demo_check(kmem_demo_bad_request "demo --request 0" RC 2)
kmem_demo_check(kmem_demo_help "demo --help" EXPECT "usage: kmem demo")
