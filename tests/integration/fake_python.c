/* A process that looks like a CPython newer than pystrobe knows to a
 * version probe, and is nothing more: it exports the symbols a profiler
 * reads first (Py_Version, and _PyRuntime starting with the _Py_DebugOffsets
 * cookie and version, in the .PyRuntime section as CPython 3.13+ places it),
 * then waits. Built twice (tests/integration/CMakeLists.txt):
 *   python3.16: FAKE_PY_VERSION_HEX 3.16.0; refused by version;
 *   python3.15: 3.15.0a1 whose offsets are all zero, as a pre-release with
 *               a layout of its own would not validate; refused by reason.
 * pystrobe must name the version either way, and never read a stack.
 *
 * Usage: python3.1X READY_FILE  (creates READY_FILE once running, then waits)
 */
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#ifndef FAKE_PY_VERSION_HEX
#error "define FAKE_PY_VERSION_HEX"
#endif

__attribute__((used, visibility("default"))) const unsigned long Py_Version =
    FAKE_PY_VERSION_HEX;

struct FakeRuntime {
  char cookie[8];         /* _Py_DebugOffsets.cookie */
  uint64_t version;       /* _Py_DebugOffsets.version */
  uint64_t free_threaded; /* _Py_DebugOffsets.free_threaded */
  unsigned char rest[4096 - 24];
};

__attribute__((used, visibility("default"),
               section(".PyRuntime"))) struct FakeRuntime _PyRuntime = {
    {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'}, FAKE_PY_VERSION_HEX, 0, {0}};

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 1;
  close(fd);
  for (;;) pause();
}
