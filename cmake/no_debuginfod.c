/* Linked into the static build only (cmake/PystrobeStatic.cmake), with
 * -Wl,--wrap=dlopen: the one dlopen() call in pystrobe's link is elfutils'
 * debuginfod client (libdw.a, debuginfod-client.o), which loads
 * libdebuginfod.so.1 the first time a module's debug information is not on
 * disk. A static executable cannot safely load a shared library built for
 * whatever glibc the host has, and the static build carries no libcurl, so
 * the call fails here as it would on a host without libdebuginfod: native
 * unwinding reads only the debug information present in the target's root
 * (or .eh_frame), as the dynamic build does when DEBUGINFOD_URLS is unset. */
#include <stddef.h>

void* __wrap_dlopen(const char* file, int mode);

void* __wrap_dlopen(const char* file, int mode) {
  (void)file;
  (void)mode;
  return NULL;
}
