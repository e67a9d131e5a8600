#include "pystrobe/elf/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"

namespace pystrobe {
namespace {

// Caps on what a (possibly hostile) file can make us allocate. Real binaries
// stay far below them: libpython has ~10k symbols and ~40 sections.
constexpr size_t kMaxSymbolsPerTable = size_t{1} << 22;
constexpr size_t kMaxSymbolNameLength = 4096;
constexpr size_t kMaxSectionNameLength = 256;
constexpr size_t kMaxSections = size_t{1} << 16;
constexpr size_t kMaxProgramHeaders = size_t{1} << 16;
constexpr size_t kMaxBuildIdBytes = 1024;

absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;

// libelf must be told the ELF version once per process before any other
// call; a function-local static makes that thread-safe.
bool InitLibelf() {
  static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
  return ok;
}

absl::Status CorruptError(const std::string& path, std::string_view what) {
  return absl::DataLossError(
      absl::StrCat(path, ": corrupt ELF file: ", AbslView(what)));
}

absl::Status LibelfError(const std::string& path, std::string_view what) {
  const char* message = elf_errmsg(-1);
  return CorruptError(
      path, absl::StrCat(AbslView(what), " (",
                         message != nullptr ? message : "unknown error", ")"));
}

// Errors of open/fstat/pread on a file: a permission problem keeps its own
// code so the CLI can give advice; the rest keep the errno's code.
absl::Status FileError(int errno_value, const std::string& message) {
  if (errno_value == EACCES || errno_value == EPERM) {
    return NoPermissionError(
        absl::StrCat(message, ": ", strerror(errno_value)));
  }
  return absl::ErrnoToStatus(errno_value, message);
}

std::string HexString(const unsigned char* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[bytes[i] >> 4]);
    hex.push_back(kDigits[bytes[i] & 0xf]);
  }
  return hex;
}

// The GNU build-id in a block of notes, or "" if there is none.
std::string FindBuildIdNote(Elf_Data* data) {
  if (data == nullptr || data->d_buf == nullptr) {
    return "";
  }
  size_t offset = 0;
  GElf_Nhdr header;
  size_t name_offset = 0;
  size_t desc_offset = 0;
  // gelf_getnote checks every size against d_size and returns 0 at the end
  // or on a malformed note; offsets only grow, so the loop ends.
  while (offset < data->d_size) {
    const size_t next =
        gelf_getnote(data, offset, &header, &name_offset, &desc_offset);
    if (next == 0 || next <= offset) {
      break;
    }
    offset = next;
    const auto* base = static_cast<const unsigned char*>(data->d_buf);
    if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
        std::memcmp(base + name_offset, "GNU", 4) == 0 && header.n_descsz > 0 &&
        header.n_descsz <= kMaxBuildIdBytes) {
      return HexString(base + desc_offset, header.n_descsz);
    }
  }
  return "";
}

// Whether a symbol's value plus the load bias is its address in a process.
bool IsAddressSymbol(const GElf_Sym& sym) {
  const int type = GELF_ST_TYPE(sym.st_info);
  if (type != STT_OBJECT && type != STT_FUNC && type != STT_NOTYPE) {
    return false;
  }
  if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) {
    return false;
  }
  // SHN_ABS values are not relocated and SHN_COMMON only appears in
  // relocatable objects; SHN_XINDEX means a real (extended) section index.
  if (sym.st_shndx >= SHN_LORESERVE && sym.st_shndx != SHN_XINDEX) {
    return false;
  }
  return true;
}

// Reads exactly `size` bytes at `offset`.
absl::Status PreadFully(int fd, uint64_t offset, char* out, size_t size,
                        const std::string& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n =
        pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return FileError(errno, absl::StrCat("cannot read ", path));
    }
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": file ended early (truncated since opened?)"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

class Indexer {
 public:
  Indexer(Elf* elf, const std::string& path, uint64_t file_size)
      : elf_(elf),
        path_(path),
        file_size_(file_size),
        name_budget_(4 * file_size + (16 << 20)) {}

  absl::Status IndexSections(std::vector<ElfSection>* sections) {
    size_t count = 0;
    if (elf_getshdrnum(elf_, &count) != 0) {
      return LibelfError(path_, "cannot count section headers");
    }
    if (count > kMaxSections) {
      return CorruptError(path_, absl::StrCat(count, " sections"));
    }
    PYSTROBE_RETURN_IF_ERROR(CheckTable(ELF_T_SHDR, count, "section headers"));
    if (count == 0) {
      return absl::OkStatus();
    }
    size_t names_index = 0;
    const bool have_names = elf_getshdrstrndx(elf_, &names_index) == 0;
    sections->reserve(count);
    for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr;
         scn = elf_nextscn(elf_, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) {
        return LibelfError(path_, "cannot read a section header");
      }
      ElfSection section;
      if (have_names) {
        const char* name = elf_strptr(elf_, names_index, shdr.sh_name);
        if (name != nullptr) {
          section.name.assign(name, strnlen(name, kMaxSectionNameLength));
        }
      }
      section.address = shdr.sh_addr;
      section.offset = shdr.sh_offset;
      section.size = shdr.sh_size;
      section.nobits = shdr.sh_type == SHT_NOBITS;
      if (!section.nobits && (section.offset > file_size_ ||
                              section.size > file_size_ - section.offset)) {
        return CorruptError(path_, absl::StrCat("section ", section.name,
                                                " extends past the end"));
      }
      sections->push_back(std::move(section));
      if (shdr.sh_type == SHT_SYMTAB) {
        has_symtab_ = true;
        symtab_ = scn;
      } else if (shdr.sh_type == SHT_DYNSYM) {
        dynsym_ = scn;
      } else if (shdr.sh_type == SHT_NOTE && build_id_.empty()) {
        build_id_ = FindBuildIdNote(elf_getdata(scn, nullptr));
      }
    }
    return absl::OkStatus();
  }

  absl::Status IndexProgramHeaders(std::vector<ElfLoadSegment>* loads) {
    size_t count = 0;
    if (elf_getphdrnum(elf_, &count) != 0) {
      return LibelfError(path_, "cannot count program headers");
    }
    if (count > kMaxProgramHeaders) {
      return CorruptError(path_, absl::StrCat(count, " program headers"));
    }
    PYSTROBE_RETURN_IF_ERROR(CheckTable(ELF_T_PHDR, count, "program headers"));
    for (size_t i = 0; i < count; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf_, static_cast<int>(i), &phdr) == nullptr) {
        return LibelfError(path_, "cannot read a program header");
      }
      if (phdr.p_type == PT_LOAD) {
        loads->push_back(ElfLoadSegment{phdr.p_vaddr, phdr.p_offset,
                                        phdr.p_filesz, phdr.p_memsz});
      } else if (phdr.p_type == PT_NOTE && phdr_build_id_.empty()) {
        // elf_getdata_rawchunk checks the range against the file size.
        Elf_Data* data = elf_getdata_rawchunk(
            elf_, static_cast<int64_t>(phdr.p_offset), phdr.p_filesz,
            phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
        phdr_build_id_ = FindBuildIdNote(data);
      }
    }
    return absl::OkStatus();
  }

  // .symtab first: try_emplace keeps its entries over .dynsym's.
  absl::Status IndexSymbols(
      absl::flat_hash_map<std::string, ElfSymbol>* symbols) {
    for (Elf_Scn* table : {symtab_, dynsym_}) {
      if (table == nullptr) {
        continue;
      }
      PYSTROBE_RETURN_IF_ERROR(IndexTable(table, symbols));
    }
    return absl::OkStatus();
  }

  bool has_symtab() const { return has_symtab_; }
  // The loader sees PT_NOTE; sections may be stripped. Prefer the former.
  std::string build_id() const {
    return phdr_build_id_.empty() ? build_id_ : phdr_build_id_;
  }

 private:
  // For a table that lies past the end of a truncated file libelf reports
  // no entries rather than an error; the ELF header still has the count the
  // file claims (unless extended numbering moved it to section 0, which
  // libelf then read from within the file).
  absl::Status CheckTable(Elf_Type type, size_t count, std::string_view what) {
    GElf_Ehdr ehdr;
    if (gelf_getehdr(elf_, &ehdr) == nullptr) {
      return LibelfError(path_, "cannot read the ELF header");
    }
    const bool sections = type == ELF_T_SHDR;
    const uint64_t table_offset = sections ? ehdr.e_shoff : ehdr.e_phoff;
    const uint64_t claimed = sections ? ehdr.e_shnum : ehdr.e_phnum;
    const bool extended = sections ? claimed == 0 : claimed == PN_XNUM;
    if (!extended && claimed != count) {
      return CorruptError(
          path_, absl::StrCat(AbslView(what), ": ", claimed, " claimed, ",
                              count, " readable"));
    }
    if (count == 0) {
      return absl::OkStatus();
    }
    const size_t entry_size = gelf_fsize(elf_, type, 1, EV_CURRENT);
    if (entry_size == 0 || table_offset > file_size_ ||
        count > (file_size_ - table_offset) / entry_size) {
      return CorruptError(path_,
                          absl::StrCat(AbslView(what), " extend past the end (",
                                       file_size_, " bytes)"));
    }
    return absl::OkStatus();
  }

  absl::Status IndexTable(
      Elf_Scn* table, absl::flat_hash_map<std::string, ElfSymbol>* symbols) {
    GElf_Shdr shdr;
    if (gelf_getshdr(table, &shdr) == nullptr) {
      return LibelfError(path_, "cannot read a symbol table header");
    }
    Elf_Data* data = elf_getdata(table, nullptr);
    if (data == nullptr) {
      return LibelfError(path_, "cannot read a symbol table");
    }
    const size_t entry_size = gelf_fsize(elf_, ELF_T_SYM, 1, EV_CURRENT);
    if (entry_size == 0) {
      return LibelfError(path_, "unknown symbol size");
    }
    size_t count = data->d_size / entry_size;
    if (count > kMaxSymbolsPerTable) {
      count = kMaxSymbolsPerTable;
    }
    // Names this table defined as LOCAL or WEAK, which a later GLOBAL of
    // the same table may replace. The views point into libelf's copy of the
    // string table, which lives until elf_end.
    absl::flat_hash_set<absl::string_view> replaceable;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) {
        break;
      }
      if (!IsAddressSymbol(sym) || sym.st_name == 0) {
        continue;
      }
      const char* raw_name = elf_strptr(elf_, shdr.sh_link, sym.st_name);
      if (raw_name == nullptr) {
        continue;
      }
      const size_t length = strnlen(raw_name, kMaxSymbolNameLength + 1);
      if (length == 0 || length > kMaxSymbolNameLength) {
        continue;
      }
      const absl::string_view name(raw_name, length);
      const bool global = GELF_ST_BIND(sym.st_info) == STB_GLOBAL;
      auto it = symbols->find(name);
      if (it != symbols->end()) {
        if (!global || replaceable.erase(name) == 0) {
          continue;
        }
        it->second.value = sym.st_value;
        it->second.size = sym.st_size;
        continue;
      }
      // Many symbols can share one long name in the string table; the
      // budget bounds what copying them can cost.
      name_bytes_ += length;
      if (name_bytes_ > name_budget_) {
        return CorruptError(path_, "symbol names exceed the size budget");
      }
      symbols->emplace(std::string(name),
                       ElfSymbol{std::string(name), sym.st_value, sym.st_size});
      if (!global) {
        replaceable.insert(name);
      }
    }
    return absl::OkStatus();
  }

  Elf* elf_;
  const std::string& path_;
  uint64_t file_size_;
  bool has_symtab_ = false;
  Elf_Scn* symtab_ = nullptr;
  Elf_Scn* dynsym_ = nullptr;
  std::string build_id_;
  std::string phdr_build_id_;
  uint64_t name_bytes_ = 0;
  uint64_t name_budget_;
};

uint64_t PageSize() {
  static const uint64_t size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

ElfFile::ElfFile(ElfFile&&) noexcept = default;
ElfFile& ElfFile::operator=(ElfFile&&) noexcept = default;
ElfFile::~ElfFile() = default;

absl::StatusOr<ElfFile> ElfFile::Open(const std::string& path) {
  if (!InitLibelf()) {
    return absl::InternalError("libelf: elf_version(EV_CURRENT) failed");
  }
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return FileError(errno, absl::StrCat("cannot open ", path));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return FileError(errno, absl::StrCat("cannot stat ", path));
  }
  // mmap of a FIFO or device could block or never end.
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_size < static_cast<off_t>(EI_NIDENT)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not an ELF file"));
  }
  ElfPtr elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  if (elf == nullptr) {
    return LibelfError(path, "cannot read the ELF header");
  }
  if (elf_kind(elf.get()) != ELF_K_ELF) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not an ELF file"));
  }
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) {
    return LibelfError(path, "cannot read the ELF header");
  }

  ElfFile file;
  file.path_ = path;
  file.file_size_ = static_cast<uint64_t>(st.st_size);
  file.is_dyn_ = ehdr.e_type == ET_DYN;
  Indexer indexer(elf.get(), path, file.file_size_);
  PYSTROBE_RETURN_IF_ERROR(indexer.IndexSections(&file.sections_));
  PYSTROBE_RETURN_IF_ERROR(indexer.IndexProgramHeaders(&file.loads_));
  PYSTROBE_RETURN_IF_ERROR(indexer.IndexSymbols(&file.symbols_));
  file.has_symtab_ = indexer.has_symtab();
  file.build_id_ = indexer.build_id();
  file.fd_ = std::move(fd);
  return file;
}

std::optional<ElfSymbol> ElfFile::FindSymbol(std::string_view name) const {
  auto it = symbols_.find(AbslView(name));
  if (it == symbols_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<ElfSection> ElfFile::FindSection(std::string_view name) const {
  for (const ElfSection& section : sections_) {
    if (section.name == name) {
      return section;
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ElfFile::SectionBytes(std::string_view name,
                                                  size_t max_size) const {
  std::optional<ElfSection> section = FindSection(name);
  if (!section.has_value()) {
    return absl::NotFoundError(
        absl::StrCat(path_, " has no section ", AbslView(name)));
  }
  if (section->nobits) {
    return std::string();
  }
  if (section->size > max_size) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path_, ": section ", AbslView(name), " has ",
                     section->size, " bytes, more than the limit ", max_size));
  }
  // Checked at Open too; repeated here because it guards the pread below.
  if (section->offset > file_size_ ||
      section->size > file_size_ - section->offset) {
    return CorruptError(path_, absl::StrCat("section ", AbslView(name),
                                            " extends past the end"));
  }
  std::string bytes(section->size, '\0');
  PYSTROBE_RETURN_IF_ERROR(PreadFully(fd_.get(), section->offset, bytes.data(),
                                      bytes.size(), path_));
  return bytes;
}

absl::StatusOr<uint64_t> ElfFile::LoadBias(
    const std::vector<MemoryMapping>& maps,
    std::string_view mapped_path) const {
  const uint64_t page_mask = ~(PageSize() - 1);
  // Maps are sorted by address and PT_LOAD segments by vaddr, so the first
  // mapping that fits is matched with the first segment that holds it. That
  // resolves files whose segments share a page of the file (the offset then
  // lies in two segments' aligned ranges).
  for (const MemoryMapping& mapping : maps) {
    if (mapping.path != mapped_path) {
      continue;
    }
    for (const ElfLoadSegment& load : loads_) {
      if (load.filesz == 0) {
        continue;
      }
      const uint64_t offset_aligned = load.offset & page_mask;
      const uint64_t vaddr_aligned = load.vaddr & page_mask;
      if (load.filesz > UINT64_MAX - load.offset) {
        continue;
      }
      if (mapping.offset < offset_aligned ||
          mapping.offset >= load.offset + load.filesz) {
        continue;
      }
      // Unsigned wrap-around is intended: a bias "below zero" still gives
      // the right address when added back.
      return mapping.start -
             (vaddr_aligned + (mapping.offset - offset_aligned));
    }
  }
  return absl::NotFoundError(
      absl::StrCat("no mapping of ", AbslView(mapped_path),
                   " covers a PT_LOAD segment of ", path_));
}

absl::StatusOr<ElfFile> OpenMappedElf(const ProcFs& proc, pid_t pid,
                                      const MemoryMapping& mapping) {
  if (mapping.path.empty() || mapping.path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrFormat("mapping %x-%x of process %d is not backed by a file",
                        mapping.start, mapping.end, pid));
  }
  std::string first_error;
  if (!mapping.deleted) {
    const std::string path = proc.InTargetRoot(pid, mapping.path);
    // A file replaced at the same path (an upgrade, an overlay) is not the
    // one mapped; the inode tells.
    struct stat st;
    if (mapping.inode != 0 && stat(path.c_str(), &st) == 0 &&
        st.st_ino != mapping.inode) {
      first_error = absl::StrCat(path, " has inode ", st.st_ino,
                                 ", the mapping has ", mapping.inode);
    } else {
      absl::StatusOr<ElfFile> file = ElfFile::Open(path);
      if (file.ok()) {
        return file;
      }
      // A file that is there but not a valid ELF file will not look better
      // through map_files.
      if (file.status().code() != absl::StatusCode::kNotFound &&
          !IsNoPermission(file.status())) {
        return file.status();
      }
      first_error = std::string(file.status().message());
    }
  }
  const std::string map_file = absl::StrFormat(
      "%s/map_files/%x-%x", proc.PidPath(pid), mapping.start, mapping.end);
  absl::StatusOr<ElfFile> file = ElfFile::Open(map_file);
  if (file.ok() || first_error.empty()) {
    return file;
  }
  return absl::Status(file.status().code(),
                      absl::StrCat(file.status().message(),
                                   " (tried first: ", first_error, ")"));
}

}  // namespace pystrobe
