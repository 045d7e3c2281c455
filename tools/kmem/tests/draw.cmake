# kmem draw and the pictures (svg.c, html.c, draw.c): every SVG well-formed,
# the report complete, a fragmented 1 GiB machine drawn small enough, hostile
# texts escaped, and the report rendered by headless Chromium.
set(KMEM_DRAW_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/tests/draw)
set(KMEM_DRAW_OUT ${CMAKE_CURRENT_BINARY_DIR}/draw-tests)

add_test(NAME kmem_draw_help COMMAND kmem_tool draw --help)
set_tests_properties(kmem_draw_help PROPERTIES PASS_REGULAR_EXPRESSION "usage: kmem draw")
add_test(NAME kmem_draw_bad_scene COMMAND kmem_tool draw --scene nope --out ${KMEM_DRAW_OUT}/bad)
set_tests_properties(kmem_draw_bad_scene PROPERTIES PASS_REGULAR_EXPRESSION "unknown scene 'nope'")

# Hostile labels and names, a zone of several roots, a snapshot without slabs.
add_executable(kmem_draw_escape ${KMEM_DRAW_TESTS}/escape.c
  ${CMAKE_CURRENT_SOURCE_DIR}/svg.c ${CMAKE_CURRENT_SOURCE_DIR}/html.c
  ${CMAKE_CURRENT_SOURCE_DIR}/snapshot.c ${CMAKE_CURRENT_SOURCE_DIR}/frag.c
  ${CMAKE_CURRENT_SOURCE_DIR}/util.c)
target_link_libraries(kmem_draw_escape PRIVATE kmem_static m)
target_compile_options(kmem_draw_escape PRIVATE ${KMEM_WARNINGS})

find_package(Python3 COMPONENTS Interpreter QUIET)
if(NOT Python3_Interpreter_FOUND)
  message(STATUS "kmem draw: no python3, the picture checks are not run")
  return()
endif()
set(KMEM_DRAW_CHECK ${Python3_EXECUTABLE} ${KMEM_DRAW_TESTS}/check_pictures.py)

# The default: the book's two scenes on 256 KB, every step's pictures.
add_test(NAME kmem_draw_pictures COMMAND ${KMEM_DRAW_CHECK} --dir ${KMEM_DRAW_OUT}/all --paths
  --min-panels 5 --expect buddy-dma.svg --expect slabs.svg --expect frag.svg
  --expect report.html --expect 02-buddy-dma.svg --text "C_L 32 KB" --text obj-3k --text obj-7k
  -- $<TARGET_FILE:kmem_tool> draw --out ${KMEM_DRAW_OUT}/all)
# A request no block can hold is a snapshot of its own, drawn like any other.
add_test(NAME kmem_draw_book_null COMMAND ${KMEM_DRAW_CHECK} --dir ${KMEM_DRAW_OUT}/null
  --min-panels 2 --text "NULL" --expect buddy-dma.svg
  -- $<TARGET_FILE:kmem_tool> draw --scene book --request 1M --last-only --out ${KMEM_DRAW_OUT}/null)
# A fragmented 1 GiB machine: page-map rows, every SVG under 2 MB.
add_test(NAME kmem_draw_frag_1g COMMAND ${KMEM_DRAW_CHECK} --dir ${KMEM_DRAW_OUT}/frag1g
  --max-bytes 2000000 --min-panels 5 --expect buddy-normal.svg --expect buddy-dma.svg
  --text "one row per 4 MB"
  -- $<TARGET_FILE:kmem_tool> draw --mem 1G --scene frag --last-only --out ${KMEM_DRAW_OUT}/frag1g)
add_test(NAME kmem_draw_escape COMMAND ${KMEM_DRAW_CHECK} --dir ${KMEM_DRAW_OUT}/escape --mkdir
  --min-panels 2 --text "tricky <label> & \"quotes\" 'apos' ??? end" --text "obj<&>"
  --text "report <title> & \"more\""
  -- $<TARGET_FILE:kmem_draw_escape> ${KMEM_DRAW_OUT}/escape)
set_tests_properties(kmem_draw_pictures kmem_draw_book_null kmem_draw_frag_1g kmem_draw_escape
  PROPERTIES TIMEOUT 60)

# Headless Chromium renders the report and runs its script; skipped (77) only
# when chromium cannot be installed.
add_test(NAME kmem_draw_chromium COMMAND ${Python3_EXECUTABLE} ${KMEM_DRAW_TESTS}/chromium_check.py
  $<TARGET_FILE:kmem_tool> ${PROJECT_SOURCE_DIR}/scripts/deps.sh ${KMEM_DRAW_OUT}/chromium)
set_tests_properties(kmem_draw_chromium PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77 LABELS browser)
