# Installs the already built library into WORK_DIR/prefix, then configures,
# builds and runs the consumer project against that prefix.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
# The exported package names its dependencies (found again by find_dependency
# on the user's machine), never this machine's paths; a portable build (ARCH,
# the library's TAPEGRAD_ARCH) forces no instruction set on its users.
file(READ ${WORK_DIR}/prefix/lib/cmake/tapegrad/tapegradTargets.cmake targets)
if(targets MATCHES "/usr/|openblas")
  message(FATAL_ERROR "tapegradTargets.cmake holds a path of this machine:\n${targets}")
endif()
if(ARCH STREQUAL "portable" AND targets MATCHES "-march")
  message(FATAL_ERROR "a portable build exports an -march flag:\n${targets}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install_consumer -B ${WORK_DIR}/build
                        -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Debug
                        # Unlike the library's flags: no optimization, warnings as errors, and
                        # this machine's instruction set while the library's default is portable.
                        "-DCONSUMER_FLAGS=-O0;-Wall;-Wextra;-Werror;-march=native"
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer OUTPUT_VARIABLE out RESULT_VARIABLE rc)
message(STATUS "consumer printed: ${out}")
if(rc OR NOT out MATCHES "grad 6" OR NOT out MATCHES "tensor\\(\\[0.50, 1.25\\]\\)")
  message(FATAL_ERROR "the consumer failed (${rc}): ${out}")
endif()
if(EXISTS ${WORK_DIR}/build/dist_consumer)
  # Without a leak report: Open MPI keeps allocations of its unloaded plugins
  # to the end (see dist_tests in tests/CMakeLists.txt).
  execute_process(COMMAND ${CMAKE_COMMAND} -E env "ASAN_OPTIONS=$ENV{ASAN_OPTIONS}:detect_leaks=0" ${WORK_DIR}/build/dist_consumer
                  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  message(STATUS "dist_consumer printed: ${out}")
  if(rc OR NOT out MATCHES "dist: rank 0 of 1, 1 buckets")
    message(FATAL_ERROR "the distributed consumer failed (${rc}): ${out}")
  endif()
endif()
