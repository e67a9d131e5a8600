// Private to the native module: the modules of one target process and the
// symbol of each program counter in them (what NativeUnwinder names its
// frames with and unwinds through).
//
// Every file-backed executable mapping of /proc/PID/maps (and the vDSO) is
// reported to one Dwfl as a module, its file opened through /proc/PID/root
// so that a target in a container resolves to its own binaries. libdwfl
// parses each module's CFI and symbols once and keeps them; the symbol of
// every address is looked up once and kept. Report() reads the maps again
// (after a dlopen) and keeps the modules whose mapping did not change.
#ifndef PYSTROBE_SRC_NATIVE_MODULE_MAP_H_
#define PYSTROBE_SRC_NATIVE_MODULE_MAP_H_

#include <elfutils/libdwfl.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pystrobe/native/native_unwinder.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/remote_memory.h"

namespace pystrobe {

class ModuleMap {
 public:
  // Reads the maps of `pid` and reports its modules. `memory` (the
  // target's, for the vDSO's bytes) must outlive the map.
  static absl::StatusOr<std::unique_ptr<ModuleMap>> Create(
      pid_t pid, const std::string& proc_root, RemoteMemory* memory);
  ~ModuleMap();
  ModuleMap(const ModuleMap&) = delete;
  ModuleMap& operator=(const ModuleMap&) = delete;

  // Makes the Dwfl able to unwind threads of the target through
  // `callbacks` (it learns the architecture from the target's executable).
  absl::Status AttachState(const Dwfl_Thread_Callbacks* callbacks, void* arg);
  Dwfl* dwfl() const { return dwfl_.get(); }

  // Reads the maps again and reports what changed (forgetting the
  // symbols: an address may name other code now).
  absl::Status Report();
  // When the maps were last read.
  std::chrono::steady_clock::time_point last_report() const {
    return last_report_;
  }

  // The symbol at `address` (looked up once, then cached). An address in
  // no module is "[unknown]", not cached, and sets missed_module().
  std::shared_ptr<const NativeSymbol> Symbolize(uint64_t address);
  bool missed_module() const { return missed_module_; }
  void clear_missed_module() { missed_module_ = false; }

  uint64_t maps_reads() const { return maps_reads_; }
  uint64_t symbol_lookups() const { return symbol_lookups_; }

  // One module as reported: consecutive mappings of one file.
  struct Range {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t offset = 0;
    std::string path;
    bool operator==(const Range& o) const;
  };
  // The modules of a process as its maps show them: each file-backed
  // (or vDSO) run of consecutive mappings of one file that holds an
  // executable mapping, with the index in `maps` of its first mapping.
  // Pure, so that tests and tests/fuzz/proc_maps_fuzzer.cc can feed it
  // any maps text ParseMaps accepts.
  struct FoundModule {
    Range range;
    size_t first_mapping = 0;
  };
  // A vDSO larger than this is left out (it is read whole into memory).
  static constexpr uint64_t kMaxVdsoBytes = 1 << 20;
  static std::vector<FoundModule> FindModules(
      const std::vector<MemoryMapping>& maps);

  // How find_elf reaches one module's file: a path (through
  // /proc/PID/root, or /proc/PID/map_files for a deleted file), or the
  // bytes of the vDSO.
  struct File {
    std::string open_path;
    std::string image;  // the vDSO, copied from the target
  };

 private:
  ModuleMap(pid_t pid, const std::string& proc_root, RemoteMemory* memory)
      : pid_(pid), proc_(proc_root), memory_(memory) {}
  std::shared_ptr<const NativeSymbol> Lookup(uint64_t address);

  struct DwflDeleter {
    void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
  };

  pid_t pid_;
  ProcFs proc_;
  RemoteMemory* memory_;
  // Declared before dwfl_: the Dwfl (and the Elf handles it made from
  // these) goes first.
  absl::flat_hash_map<std::string, std::unique_ptr<File>> files_;
  // The target's executable, which tells dwfl_attach_state the
  // architecture (it must outlive the Dwfl's process state; closed in the
  // destructor after the Dwfl).
  int exe_fd_ = -1;
  Elf* exe_elf_ = nullptr;
  std::unique_ptr<Dwfl, DwflDeleter> dwfl_;
  std::vector<Range> modules_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<const NativeSymbol>> symbols_;
  // Frames of one function share their CodeInfo, so the sampler interns
  // them as one frame (per line).
  absl::flat_hash_map<std::string, std::shared_ptr<const CodeInfo>> codes_;
  bool missed_module_ = false;
  std::chrono::steady_clock::time_point last_report_;
  uint64_t maps_reads_ = 0;
  uint64_t symbol_lookups_ = 0;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_NATIVE_MODULE_MAP_H_
