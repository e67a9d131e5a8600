// Symbols and sections of a binary mapped into the target, via elfutils libelf.
//
// An ElfFile is indexed once when it is opened (symbols, sections, PT_LOAD
// segments, build-id) and then answers lookups without touching libelf
// again; it keeps only the file descriptor, to read section bytes on demand.
// Everything read from the file is bounded: a truncated or hostile file gives
// an error, never a crash or an unbounded allocation.
//
//   PYSTROBE_ASSIGN_OR_RETURN(ElfFile elf, OpenMappedElf(proc, pid, mapping));
//   std::optional<ElfSymbol> runtime = elf.FindSymbol("_PyRuntime");
//   PYSTROBE_ASSIGN_OR_RETURN(uint64_t bias, elf.LoadBias(maps, mapping.path));
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
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {

// A defined OBJECT, FUNC or NOTYPE symbol. TLS, IFUNC, absolute and
// undefined symbols are not indexed: their value plus the load bias is not
// an address in the process.
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
  // build-id. Errors name the path: NotFound for a missing file,
  // InvalidArgument ("PATH is not an ELF file") for a file that is not ELF,
  // DataLoss for a corrupt or truncated one.
  static absl::StatusOr<ElfFile> Open(const std::string& path);

  ElfFile(ElfFile&&) noexcept;
  ElfFile& operator=(ElfFile&&) noexcept;
  ~ElfFile();

  const std::string& path() const { return path_; }
  bool is_pie_or_shared() const { return is_dyn_; }  // ET_DYN
  // True if the file has a .symtab (it was not stripped).
  bool has_symtab() const { return has_symtab_; }
  // Lowercase hex of the NT_GNU_BUILD_ID note, empty if there is none.
  const std::string& build_id() const { return build_id_; }

  // A symbol by exact name. Within one table a GLOBAL definition is
  // preferred over a LOCAL or WEAK one of the same name.
  std::optional<ElfSymbol> FindSymbol(std::string_view name) const;
  // The first section with this name.
  std::optional<ElfSection> FindSection(std::string_view name) const;
  const std::vector<ElfSection>& sections() const { return sections_; }
  const std::vector<ElfLoadSegment>& load_segments() const { return loads_; }
  size_t symbol_count() const { return symbols_.size(); }

  // The bytes of a section from the file (empty for SHT_NOBITS). Bounded by
  // `max_size`; larger sections are an error (ResourceExhausted).
  absl::StatusOr<std::string> SectionBytes(std::string_view name,
                                           size_t max_size = 64 << 20) const;

  // The load bias of this file in a process: runtime address minus
  // link-time address, computed from the mapping of the file (matched by
  // `mapped_path`) whose file offset lies in a PT_LOAD segment. 0 for a
  // non-PIE executable. NotFound if no such mapping exists.
  absl::StatusOr<uint64_t> LoadBias(const std::vector<MemoryMapping>& maps,
                                    std::string_view mapped_path) const;

 private:
  ElfFile() = default;
  std::string path_;
  // Kept open so SectionBytes reads the file that was indexed, even if the
  // path was deleted or replaced since.
  ScopedFd fd_;
  uint64_t file_size_ = 0;
  bool is_dyn_ = false;
  bool has_symtab_ = false;
  std::string build_id_;
  absl::flat_hash_map<std::string, ElfSymbol> symbols_;
  std::vector<ElfSection> sections_;
  std::vector<ElfLoadSegment> loads_;
};

// Opens a binary mapped by `pid` at `mapping`: through /proc/PID/root (so
// binaries inside containers resolve), and for a deleted or replaced file
// (or one whose inode differs from the mapping's) through
// /proc/PID/map_files/START-END, which needs CAP_SYS_ADMIN. Errors name
// every path tried.
absl::StatusOr<ElfFile> OpenMappedElf(const ProcFs& proc, pid_t pid,
                                      const MemoryMapping& mapping);

}  // namespace pystrobe

#endif  // PYSTROBE_ELF_ELF_FILE_H_
