# Fails unless SOURCE uses no xtensor directly: no #include of an xtensor,
# xtl or xsimd header, no `xt::`, no `using namespace xt`. Headers SOURCE
# includes with quotes ("tasks/flags.hpp") are checked too, and theirs, so
# that the rule cannot be dodged through a local header. The library's own
# headers (<tapegrad/...>) are not followed: they may use xtensor, a user's
# code need not.
#
#   cmake -DSOURCE=examples/classify.cpp -P tests/check_no_xtensor.cmake

cmake_minimum_required(VERSION 3.20)

if(NOT DEFINED SOURCE OR NOT EXISTS "${SOURCE}")
  message(FATAL_ERROR "check_no_xtensor: SOURCE '${SOURCE}' is not a file")
endif()

set(pending "${SOURCE}")
set(checked "")
set(problems "")
while(pending)
  list(POP_FRONT pending file)
  if(file IN_LIST checked)
    continue()
  endif()
  list(APPEND checked "${file}")
  # One list element per line: ';' and square brackets (which stop CMake
  # from splitting a list) are masked first, and restored when shown.
  file(READ "${file}" content)
  string(REPLACE ";" "<sc>" content "${content}")
  string(REPLACE "[" "<lb>" content "${content}")
  string(REPLACE "]" "<rb>" content "${content}")
  string(REPLACE "\n" ";" lines "${content}")
  get_filename_component(dir "${file}" DIRECTORY)
  set(number 0)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    if(line MATCHES "#[ \t]*include[ \t]*[<\"](xtensor|xtl|xsimd)[-_a-zA-Z0-9]*/"
       OR line MATCHES "xt::"
       OR line MATCHES "namespace[ \t]+xt([^_a-zA-Z0-9]|$)")
      string(STRIP "${line}" shown)
      list(APPEND problems "${file}:${number}: ${shown}")
    endif()
    if(line MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"" AND EXISTS "${dir}/${CMAKE_MATCH_1}")
      list(APPEND pending "${dir}/${CMAKE_MATCH_1}")
    endif()
  endforeach()
endwhile()

if(problems)
  list(JOIN problems "\n  " shown)
  string(REPLACE "<sc>" ";" shown "${shown}")
  string(REPLACE "<lb>" "[" shown "${shown}")
  string(REPLACE "<rb>" "]" shown "${shown}")
  message(FATAL_ERROR "check_no_xtensor: xtensor used directly (the example must need only <tapegrad/tapegrad.hpp>):\n  ${shown}")
endif()
list(LENGTH checked count)
message(STATUS "check_no_xtensor: ${count} file(s) use no xtensor directly")
