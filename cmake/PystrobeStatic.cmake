# -DPYSTROBE_STATIC=ON: pystrobe and pystrobe-diff as fully static x86-64
# executables (no shared library, no dynamic loader), linked from Debian's
# static archives, so that one file runs in a container of another
# distribution or an empty root. Build it in a directory of its own:
#
#   cmake -S . -B build-static -DPYSTROBE_STATIC=ON && cmake --build build-static
#
# Included by the top-level CMakeLists.txt after its find_package calls. It
# retargets the imported libraries those calls found (shared objects) to
# their static archives instead of finding them a second way, so that the
# targets' names and the modules' CMakeLists.txt stay the same in both
# builds.

set(_static_dir /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})

# find_library(VAR NAME): the static archive libNAME.a, or a fatal error
# naming the Debian package that ships it.
function(pystrobe_static_archive var name package)
  find_library(${var} NAMES lib${name}.a HINTS ${_static_dir} NO_CACHE)
  if(NOT ${var})
    message(FATAL_ERROR "PYSTROBE_STATIC: lib${name}.a not found (Debian package ${package})")
  endif()
  set(${var} ${${var}} PARENT_SCOPE)
endfunction()

# Abseil's CMake package imports the .so of each absl::* target; the .a of
# the same name sits beside it (libabsl-dev ships both).
get_property(_imported DIRECTORY PROPERTY IMPORTED_TARGETS)
foreach(_target IN LISTS _imported)
  if(NOT _target MATCHES "^absl::")
    continue()
  endif()
  get_target_property(_type ${_target} TYPE)
  if(NOT _type STREQUAL "SHARED_LIBRARY")
    continue()
  endif()
  get_target_property(_location ${_target} IMPORTED_LOCATION_NONE)
  string(REGEX REPLACE "\\.so(\\.[0-9]+)*$" ".a" _archive "${_location}")
  if(NOT EXISTS "${_archive}")
    message(FATAL_ERROR "PYSTROBE_STATIC: ${_archive} not found for ${_target} (libabsl-dev)")
  endif()
  set_target_properties(${_target} PROPERTIES
    IMPORTED_LOCATION_NONE "${_archive}"
    IMPORTED_LOCATION "${_archive}")
endforeach()

pystrobe_static_archive(_protobuf protobuf libprotobuf-dev)
set_target_properties(protobuf::libprotobuf PROPERTIES
  IMPORTED_LOCATION "${_protobuf}"
  IMPORTED_LOCATION_RELEASE "${_protobuf}"
  IMPORTED_LOCATION_DEBUG "${_protobuf}")
pystrobe_static_archive(_z z zlib1g-dev)
set_target_properties(ZLIB::ZLIB PROPERTIES
  IMPORTED_LOCATION "${_z}"
  IMPORTED_LOCATION_RELEASE "${_z}"
  IMPORTED_LOCATION_DEBUG "${_z}")

# elfutils 0.188 (Debian 12): libdw reads compressed ELF sections and
# files with zlib, bzip2 and xz (libdw.pc: Requires.private zlib liblzma,
# Libs.private -lbz2; no zstd in this build: `nm -u libdw.a` names no
# ZSTD_*), and its debuginfod client dlopen()s libdebuginfod.so.1 the first
# time a module's debug information is not on disk: cmake/no_debuginfod.c
# makes that call fail (--wrap=dlopen), so that the static binary never
# loads a shared object of the host's glibc.
add_library(pystrobe_no_debuginfod STATIC ${PROJECT_SOURCE_DIR}/cmake/no_debuginfod.c)
pystrobe_static_archive(_dw dw libdw-dev)
pystrobe_static_archive(_elf elf libelf-dev)
pystrobe_static_archive(_lzma lzma liblzma-dev)
pystrobe_static_archive(_bz2 bz2 libbz2-dev)
set_target_properties(PkgConfig::LIBDW PROPERTIES
  INTERFACE_LINK_LIBRARIES "${_dw};pystrobe_no_debuginfod;${_elf};${_lzma};${_bz2};${_z};Threads::Threads"
  INTERFACE_LINK_OPTIONS "-Wl,--wrap=dlopen"
  INTERFACE_LINK_DIRECTORIES "")
set_target_properties(PkgConfig::LIBELF PROPERTIES
  INTERFACE_LINK_LIBRARIES "${_elf};${_z}"
  INTERFACE_LINK_DIRECTORIES "")

# Everything static, the C and C++ runtimes and glibc included; the link
# line must not end in -Bdynamic (which CMake appends after libraries it
# links by name, -latomic here), or libstdc++ and libc are looked up as
# shared objects.
set(CMAKE_LINK_SEARCH_START_STATIC ON)
set(CMAKE_LINK_SEARCH_END_STATIC ON)
add_link_options(-static)
add_compile_definitions(PYSTROBE_STATIC_BUILD=1)
