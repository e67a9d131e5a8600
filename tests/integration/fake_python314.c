/* A process that looks like CPython 3.14 to a version probe, and is nothing
 * more: it exports the symbols a profiler reads first (Py_Version, and
 * _PyRuntime starting with the _Py_DebugOffsets cookie and version, in the
 * .PyRuntime section as CPython 3.13+ places it), then waits. pystrobe must
 * refuse it as an unsupported version and name 3.14.
 *
 * Usage: python3.14 READY_FILE  (creates READY_FILE once running, then waits)
 */
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#define FAKE_PY_VERSION_HEX 0x030E00F0UL /* 3.14.0 final */

__attribute__((used, visibility("default"))) const unsigned long Py_Version =
    FAKE_PY_VERSION_HEX;

struct FakeRuntime {
  char cookie[8];         /* _Py_DebugOffsets.cookie */
  uint64_t version;       /* _Py_DebugOffsets.version */
  uint64_t free_threaded; /* _Py_DebugOffsets.free_threaded (3.14) */
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
