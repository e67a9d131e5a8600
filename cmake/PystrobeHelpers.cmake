# pystrobe_library(NAME SRCS a.cc ... DEPS target ...)
#
# One static library per module: public headers under include/pystrobe/,
# private headers beside the sources. Tests and executables link these
# libraries; nothing compiles a module's sources twice.
function(pystrobe_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name}
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()
