#include "module_map.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/base/text.h"

namespace pystrobe {
namespace {

int FindElf(Dwfl_Module* /*mod*/, void** userdata, const char* /*name*/,
            Dwarf_Addr /*base*/, char** file_name, Elf** elfp) {
  const auto* file = static_cast<const ModuleMap::File*>(*userdata);
  if (file == nullptr) return -1;
  if (!file->image.empty()) {
    // libdwfl owns (and ends) the Elf; the bytes live as long as the
    // map, which outlives its Dwfl.
    *elfp =
        elf_memory(const_cast<char*>(file->image.data()), file->image.size());
    return -1;
  }
  const int fd = open(file->open_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  *file_name = strdup(file->open_path.c_str());
  return fd;
}

const Dwfl_Callbacks kDwflCallbacks = {
    .find_elf = FindElf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

std::string Demangle(const char* raw) {
  // .dynsym names of versioned symbols carry their version
  // ("__libc_start_main@@GLIBC_2.34").
  std::string name(raw);
  if (size_t at = name.find('@'); at != std::string::npos) name.resize(at);
  if (name.size() < 2 || name[0] != '_' || name[1] != 'Z') return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return name;
  std::string result(out);
  std::free(out);
  return result;
}

}  // namespace

bool ModuleMap::Range::operator==(const Range& o) const {
  return std::tie(start, end, offset, path) ==
         std::tie(o.start, o.end, o.offset, o.path);
}

std::vector<ModuleMap::FoundModule> ModuleMap::FindModules(
    const std::vector<MemoryMapping>& maps) {
  // A module spans the consecutive mappings of one file (its r--, r-x,
  // r-- and rw- segments), from the one at the lowest address: libdwfl
  // takes the load bias from where the file's first PT_LOAD lies.
  std::vector<FoundModule> found;
  bool open = false;  // found.back() may still grow
  bool executable = false;
  auto flush = [&] {
    if (open && !executable) found.pop_back();
    open = false;
    executable = false;
  };
  for (size_t i = 0; i < maps.size(); ++i) {
    const MemoryMapping& m = maps[i];
    const bool file =
        !m.path.empty() && (m.path[0] == '/' || m.path == "[vdso]");
    if (open && file && m.path == found.back().range.path &&
        m.start == found.back().range.end) {
      found.back().range.end = m.end;
      executable |= m.executable;
      continue;
    }
    flush();
    if (!file) continue;
    found.push_back({{m.start, m.end, m.offset, m.path}, i});
    open = true;
    executable = m.executable;
  }
  flush();
  // The vDSO is copied out of the target whole (Report): a kernel's is a
  // few pages, so a larger one is not a vDSO (a fake /proc root, a corrupt
  // maps file) and is left out rather than allocated.
  found.erase(std::remove_if(found.begin(), found.end(),
                             [](const FoundModule& f) {
                               return f.range.path == "[vdso]" &&
                                      f.range.end - f.range.start >
                                          ModuleMap::kMaxVdsoBytes;
                             }),
              found.end());
  return found;
}

absl::StatusOr<std::unique_ptr<ModuleMap>> ModuleMap::Create(
    pid_t pid, const std::string& proc_root, RemoteMemory* memory) {
  std::unique_ptr<ModuleMap> map(new ModuleMap(pid, proc_root, memory));
  PYSTROBE_RETURN_IF_ERROR(map->Report());
  return map;
}

ModuleMap::~ModuleMap() {
  dwfl_.reset();
  if (exe_elf_ != nullptr) elf_end(exe_elf_);
  if (exe_fd_ >= 0) close(exe_fd_);
}

absl::Status ModuleMap::AttachState(const Dwfl_Thread_Callbacks* callbacks,
                                    void* arg) {
  const std::string exe = absl::StrCat(proc_.PidPath(pid_), "/exe");
  exe_fd_ = open(exe.c_str(), O_RDONLY | O_CLOEXEC);
  if (exe_fd_ < 0) {
    return StatusFromErrno(errno, absl::StrCat("cannot open ", exe));
  }
  exe_elf_ = elf_begin(exe_fd_, ELF_C_READ_MMAP, nullptr);
  if (exe_elf_ == nullptr) {
    return absl::InternalError(
        absl::StrCat(exe, " is not an ELF file: ", elf_errmsg(-1)));
  }
  if (!dwfl_attach_state(dwfl_.get(), exe_elf_, pid_, callbacks, arg)) {
    return absl::InternalError(
        absl::StrCat("dwfl_attach_state: ", dwfl_errmsg(-1)));
  }
  return absl::OkStatus();
}

absl::Status ModuleMap::Report() {
  ++maps_reads_;
  last_report_ = std::chrono::steady_clock::now();
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<MemoryMapping> maps,
                            proc_.ReadMaps(pid_));
  const std::vector<FoundModule> modules = FindModules(maps);
  std::vector<Range> found;
  found.reserve(modules.size());
  for (const FoundModule& module : modules) found.push_back(module.range);
  if (found == modules_ && dwfl_ != nullptr) return absl::OkStatus();

  if (dwfl_ == nullptr) {
    dwfl_.reset(dwfl_begin(&kDwflCallbacks));
    if (dwfl_ == nullptr) {
      return absl::InternalError(absl::StrCat("dwfl_begin: ", dwfl_errmsg(-1)));
    }
  }
  dwfl_report_begin(dwfl_.get());
  for (size_t i = 0; i < found.size(); ++i) {
    const Range& r = found[i];
    const MemoryMapping& m = maps[modules[i].first_mapping];
    const std::string key = absl::StrCat(r.path, "@", r.start);
    std::unique_ptr<File>& file = files_[key];
    if (file == nullptr) {
      file = std::make_unique<File>();
      if (r.path == "[vdso]") {
        file->image.resize(r.end - r.start);
        if (!memory_->Read(r.start, file->image.data(), file->image.size())
                 .ok()) {
          file->image.clear();
          continue;
        }
      } else if (m.deleted) {
        file->open_path =
            absl::StrCat(proc_.PidPath(pid_), "/map_files/", absl::Hex(m.start),
                         "-", absl::Hex(m.end));
      } else {
        // /proc/PID/maps names files relative to the reader's root: a
        // target chrooted below it shows the path as seen from here, one
        // in its own mount namespace the path inside it.
        file->open_path = proc_.InTargetRoot(pid_, r.path);
        if (access(file->open_path.c_str(), R_OK) != 0 &&
            access(r.path.c_str(), R_OK) == 0) {
          file->open_path = r.path;
        }
      }
    }
    Dwfl_Module* mod =
        dwfl_report_module(dwfl_.get(), r.path.c_str(), r.start, r.end);
    if (mod == nullptr) continue;
    void** userdata = nullptr;
    dwfl_module_info(mod, &userdata, nullptr, nullptr, nullptr, nullptr,
                     nullptr, nullptr);
    if (userdata != nullptr) *userdata = file.get();
  }
  if (dwfl_report_end(dwfl_.get(), nullptr, nullptr) != 0) {
    return absl::InternalError(
        absl::StrCat("dwfl_report_end: ", dwfl_errmsg(-1)));
  }
  modules_ = std::move(found);
  // Addresses may name other code now (a library unloaded, another loaded
  // in its place).
  symbols_.clear();
  return absl::OkStatus();
}

std::shared_ptr<const NativeSymbol> ModuleMap::Symbolize(uint64_t address) {
  auto it = symbols_.find(address);
  if (it != symbols_.end()) return it->second;
  std::shared_ptr<const NativeSymbol> sym = Lookup(address);
  // An address outside every module is not kept: the library it is in may
  // be being loaded (the maps are read again, NativeUnwinder::Unwind).
  if (sym->module != "[unknown]") symbols_.emplace(address, sym);
  return sym;
}

std::shared_ptr<const NativeSymbol> ModuleMap::Lookup(uint64_t address) {
  ++symbol_lookups_;
  auto sym = std::make_shared<NativeSymbol>();
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_.get(), address);
  Dwarf_Addr start = 0;
  Dwarf_Addr end = 0;
  const char* module_name =
      mod == nullptr ? nullptr
                     : dwfl_module_info(mod, nullptr, &start, &end, nullptr,
                                        nullptr, nullptr, nullptr);
  // dwfl_addrmodule (elfutils 0.188) also answers for an address in the
  // gap after a module, with that module: a library since loaded into the
  // gap (dlopen of an extension between libc and libpython) would be
  // unwound with the other's CFI and named after it for good, its maps
  // never read again. Only a module's own range counts.
  if (mod != nullptr && (address < start || address >= end)) mod = nullptr;
  if (mod == nullptr) {
    missed_module_ = true;
    sym->module = "[unknown]";
  } else {
    sym->module = module_name != nullptr ? module_name : "[unknown]";
    sym->module_start = start;
    sym->module_end = end;
    for (const Range& r : modules_) {
      if (r.start == start) sym->module_offset = r.offset;
    }
    // The build-id is known once the module's ELF is open.
    Dwarf_Addr bias = 0;
    dwfl_module_getelf(mod, &bias);
    const unsigned char* bits = nullptr;
    GElf_Addr note_vaddr = 0;
    const int n = dwfl_module_build_id(mod, &bits, &note_vaddr);
    for (int i = 0; i < n; ++i) {
      absl::StrAppend(&sym->build_id, absl::Hex(bits[i], absl::kZeroPad2));
    }
    GElf_Off offset = 0;
    GElf_Sym elf_sym;
    const char* function = dwfl_module_addrinfo(mod, address, &offset, &elf_sym,
                                                nullptr, nullptr, nullptr);
    if (function != nullptr && function[0] != '\0') {
      sym->function = Demangle(function);
      sym->function_offset = offset;
    }
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, address)) {
      int lineno = 0;
      const char* source =
          dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
      if (source != nullptr) {
        sym->source_file = source;
        sym->line = lineno;
      }
    }
  }
  // Unnamed code is told apart by its offset in its module.
  std::string name =
      !sym->function.empty()
          ? sym->function
          : absl::StrCat(std::string(Basename(sym->module)), "+0x",
                         absl::Hex(address - sym->module_start));
  const std::string& filename =
      sym->source_file.empty() ? sym->module : sym->source_file;
  std::shared_ptr<const CodeInfo>& code =
      codes_[absl::StrCat(sym->module, "\n", name, "\n", filename)];
  if (code == nullptr) {
    auto info = std::make_shared<CodeInfo>();
    info->name = std::move(name);
    info->filename = filename;
    info->native_module = sym->module;
    info->native_build_id = sym->build_id;
    info->native_start = sym->module_start;
    info->native_limit = sym->module_end;
    info->native_offset = sym->module_offset;
    code = std::move(info);
  }
  sym->code = code;
  return sym;
}

}  // namespace pystrobe
