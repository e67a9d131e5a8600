// Symbols and sections of a binary mapped into the target, via elfutils libelf.
//
//   ASSIGN_OR_RETURN(ElfFile elf, ElfFile::Open(proc.InTargetRoot(pid, path)));
//   std::optional<ElfSymbol> runtime = elf.FindSymbol("_PyRuntime");
//   ASSIGN_OR_RETURN(uint64_t bias, elf.LoadBias(maps, path));
//   uint64_t remote_address = runtime->value + bias;
#ifndef PYSTROBE_ELF_ELF_FILE_H_
#define PYSTROBE_ELF_ELF_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {

struct ElfSymbol {
  std::string name;
  uint64_t value = 0;  // link-time address (add the load bias)
  uint64_t size = 0;
};

struct ElfSection {
  std::string name;
  uint64_t address = 0;  // link-time address (sh_addr)
  uint64_t offset = 0;   // file offset (sh_offset)
  uint64_t size = 0;
  bool nobits = false;  // SHT_NOBITS (.bss): no bytes in the file
};

struct ElfLoadSegment {
  uint64_t vaddr = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
};

class ElfFile {
 public:
  // Opens and indexes a file: both symbol tables (.symtab wins over .dynsym
  // for the same name), section headers, PT_LOAD segments and the GNU
  // build-id. Errors name the path; a file that is not ELF is
  // InvalidArgument.
  static absl::StatusOr<ElfFile> Open(const std::string& path);

  ElfFile(ElfFile&&) noexcept;
  ElfFile& operator=(ElfFile&&) noexcept;
  ~ElfFile();

  const std::string& path() const { return path_; }
  bool is_pie_or_shared() const { return is_dyn_; }  // ET_DYN
  bool has_symtab() const { return has_symtab_; }
  // Hex string of the NT_GNU_BUILD_ID note, empty if there is none.
  const std::string& build_id() const { return build_id_; }

  std::optional<ElfSymbol> FindSymbol(std::string_view name) const;
  std::optional<ElfSection> FindSection(std::string_view name) const;
  const std::vector<ElfLoadSegment>& load_segments() const { return loads_; }

  // The bytes of a section from the file (empty for SHT_NOBITS). Bounded by
  // `max_size`; larger sections are an error.
  absl::StatusOr<std::string> SectionBytes(std::string_view name,
                                           size_t max_size = 64 << 20) const;

  // The load bias of this file in a process: runtime address minus
  // link-time address, computed from the mapping of the file (matched by
  // `mapped_path`) whose file offset lies in a PT_LOAD segment.
  absl::StatusOr<uint64_t> LoadBias(const std::vector<MemoryMapping>& maps,
                                    std::string_view mapped_path) const;

 private:
  ElfFile() = default;
  std::string path_;
  bool is_dyn_ = false;
  bool has_symtab_ = false;
  std::string build_id_;
  absl::flat_hash_map<std::string, ElfSymbol> symbols_;
  std::vector<ElfSection> sections_;
  std::vector<ElfLoadSegment> loads_;
};

// Opens a binary mapped by `pid` at `mapping`: through /proc/PID/root (so
// binaries inside containers resolve), and for a deleted or replaced file
// through /proc/PID/map_files/START-END.
absl::StatusOr<ElfFile> OpenMappedElf(const ProcFs& proc, pid_t pid,
                                      const MemoryMapping& mapping);

}  // namespace pystrobe

#endif  // PYSTROBE_ELF_ELF_FILE_H_
