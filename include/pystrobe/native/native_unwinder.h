// Native (C/C++) stacks of a target's threads: unwound and symbolized with
// elfutils libdwfl.
//
// One NativeUnwinder per target process. Its modules (every file-backed
// executable mapping of /proc/PID/maps, and the vDSO) are reported to a
// Dwfl, opened through /proc/PID/root so that targets in containers
// resolve to their own binaries. libdwfl then parses each module's CFI
// (.eh_frame, or .debug_frame from debug info) once and keeps it, and the
// symbol of every program counter is looked up once and kept (by address),
// so a repeated stack costs neither re-parsing nor lookups. The mappings
// are re-read only when an address falls outside every known module (a
// dlopen since the last read); the modules whose mapping did not change
// are kept (src/native/module_map.h).
//
// Why libdwfl's unwinder rather than libunwind-ptrace: _UPT_find_proc_info
// opens the files named in /proc/PID/maps on the host file system (the
// wrong binaries for a target in a container) and re-reads the maps at
// every change of module; libdwfl takes a find_elf callback, names the
// frames from the same modules, and reads the stack through a callback
// served here from a per-unwind page cache (one process_vm_readv per 4 KiB
// stack page).
//
// Unwind() reads the thread's registers with PTRACE_GETREGS: the thread
// must be ptrace-stopped (PtraceSuspension) by the calling thread.
// UnwindSleeping() starts from the stack pointer and program counter of a
// thread asleep in a system call (/proc/PID/task/TID/syscall) that is not
// stopped: it cannot run meanwhile, so its stack holds still.
//
//   ASSIGN_OR_RETURN(auto unwinder, NativeUnwinder::Create(pid));
//   {
//     ASSIGN_OR_RETURN(PtraceSuspension stop, PtraceSuspension::Suspend(pid));
//     std::vector<NativeFrame> frames;
//     RETURN_IF_ERROR(unwinder->Unwind(tid, &frames));  // innermost first
//   }
#ifndef PYSTROBE_NATIVE_NATIVE_UNWINDER_H_
#define PYSTROBE_NATIVE_NATIVE_UNWINDER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {

// What one program counter resolved to. Shared by every frame at that
// address; immutable.
struct NativeSymbol {
  // The symbol (demangled), or "" when no symbol covers the address (a
  // static function of a stripped binary).
  std::string function;
  uint64_t function_offset = 0;  // address - symbol start
  std::string source_file;       // from DWARF line info, "" without it
  int line = 0;                  // 0 without line info
  // The mapped file (the path /proc/PID/maps shows, "[vdso]"), its GNU
  // build-id (lowercase hex, "" if none) and the address range it spans.
  std::string module;
  std::string build_id;
  uint64_t module_start = 0;
  uint64_t module_end = 0;
  uint64_t module_offset = 0;  // file offset of module_start
  // The frame as the sampler aggregates it (a Frame's code): name is the
  // function or "module+0xOFFSET", filename the source file or else the
  // module, native_module set.
  std::shared_ptr<const CodeInfo> code;
};

struct NativeFrame {
  uint64_t pc = 0;  // the return address for all but the innermost frame
  uint64_t sp = 0;  // its stack pointer (0: unknown); its locals lie at and
                    // above it, below the next outer frame's
  std::shared_ptr<const NativeSymbol> symbol;  // never null
};

class NativeUnwinder {
 public:
  // Deeper native stacks are cut here (and reported as truncated).
  static constexpr int kMaxDepth = 2048;

  // Reads the maps of `pid` and prepares its modules. Errors:
  // ProcessGoneError, NoPermissionError.
  static absl::StatusOr<std::unique_ptr<NativeUnwinder>> Create(
      pid_t pid, const std::string& proc_root = "/proc");
  ~NativeUnwinder();
  NativeUnwinder(const NativeUnwinder&) = delete;
  NativeUnwinder& operator=(const NativeUnwinder&) = delete;

  // The native stack of `tid` (stopped by this thread's ptrace), innermost
  // first, into `frames`. An unwind that stopped before the outermost frame
  // (no CFI for a frame, unreadable stack) keeps the frames found so far
  // and sets *truncated (optional); an error only when not even the
  // registers could be read (ProcessGoneError for a thread gone).
  absl::Status Unwind(pid_t tid, std::vector<NativeFrame>* frames,
                      bool* truncated = nullptr);

  // The same from a sleeping thread's stack pointer and program counter
  // alone (the other registers are unknown): a frame whose CFI needs one
  // of them (a CFA computed from rbp, say) ends the unwind there, as
  // truncated. An error only when the target is gone.
  absl::Status UnwindSleeping(pid_t tid, uint64_t sp, uint64_t pc,
                              std::vector<NativeFrame>* frames,
                              bool* truncated = nullptr);

  // The symbol at `address` (looked up once, then cached).
  std::shared_ptr<const NativeSymbol> Symbolize(uint64_t address);

  // Counters, for tests and benchmarks.
  uint64_t maps_reads() const;
  uint64_t symbol_lookups() const;
  uint64_t memory_reads() const;

  struct Impl;

 private:
  explicit NativeUnwinder(std::unique_ptr<Impl> impl);
  absl::Status UnwindFromRegisters(std::vector<NativeFrame>* frames,
                                   bool* truncated);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_NATIVE_NATIVE_UNWINDER_H_
