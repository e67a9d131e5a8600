# Installation and packages (README "Install"; scripts/package.sh).
#
# `cmake --install BUILD --prefix P` puts pystrobe and pystrobe-diff in
# P/bin and the README and licences in P/share/doc/pystrobe. `cpack -G DEB`
# in a -DPYSTROBE_STATIC=ON build makes a .deb that installs them under
# /usr/bin with no dependencies (the binaries need no shared library).

include(GNUInstallDirs)
install(TARGETS pystrobe pystrobe-diff RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The static executables contain these libraries; their copyright files as
# Debian ships them, in one file beside the README.
set(_licenses ${PROJECT_BINARY_DIR}/THIRD_PARTY_LICENSES)
file(WRITE ${_licenses}
  "pystrobe's static executables contain code of the libraries below,\n"
  "linked from Debian 12's packages; each one's copyright file follows.\n")
foreach(_package libc6 gcc-12-base libabsl20220623 libprotobuf32 libdw1
                 libelf1 zlib1g liblzma5 libbz2-1.0)
  set(_copyright /usr/share/doc/${_package}/copyright)
  if(EXISTS ${_copyright})
    file(READ ${_copyright} _text)
    file(APPEND ${_licenses}
      "\n==== ${_package} (/usr/share/doc/${_package}/copyright) ====\n\n${_text}")
  endif()
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_licenses}
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME pystrobe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "out-of-process sampling profiler for CPython, and its regression gate")
set(CPACK_PACKAGE_CONTACT "pystrobe developers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Static executables: no shared-library dependencies to compute.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "")
set(CPACK_GENERATOR DEB)
include(CPack)
