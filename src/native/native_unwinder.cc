#include "pystrobe/native/native_unwinder.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <libelf.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/remote_memory.h"

namespace pystrobe {
namespace {

struct DwflDeleter {
  void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
};

// How find_elf reaches one module's file: a path (through /proc/PID/root,
// or /proc/PID/map_files for a deleted file), or the bytes of the vDSO.
struct ModuleFile {
  std::string open_path;
  std::string image;  // the vDSO, copied from the target
};

int FindElf(Dwfl_Module* /*mod*/, void** userdata, const char* /*name*/,
            Dwarf_Addr /*base*/, char** file_name, Elf** elfp) {
  const auto* file = static_cast<const ModuleFile*>(*userdata);
  if (file == nullptr) return -1;
  if (!file->image.empty()) {
    // libdwfl owns (and ends) the Elf; the bytes live as long as the
    // unwinder, which outlives its Dwfl.
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

std::string_view Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// One module as reported: consecutive mappings of one file.
struct ModuleRange {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;
  std::string path;
  bool operator==(const ModuleRange& o) const {
    return std::tie(start, end, offset, path) ==
           std::tie(o.start, o.end, o.offset, o.path);
  }
};

constexpr uint64_t kPage = 4096;
// Pages of the target read per unwind (the stack and what CFI
// expressions dereference); reads past it go to the target directly.
constexpr size_t kMaxCachedPages = 64;

}  // namespace

struct NativeUnwinder::Impl {
  NativeUnwinder* self = nullptr;
  pid_t pid = 0;
  ProcFs proc;
  std::unique_ptr<RemoteMemory> memory;
  // Declared before dwfl: the Dwfl (and the Elf handles it made from
  // these) goes first.
  absl::flat_hash_map<std::string, std::unique_ptr<ModuleFile>> files;
  // The target's executable, which tells dwfl_attach_state the
  // architecture (it must outlive the Dwfl's process state).
  int exe_fd = -1;
  Elf* exe_elf = nullptr;
  std::unique_ptr<Dwfl, DwflDeleter> dwfl;
  ~Impl() {
    dwfl.reset();
    if (exe_elf != nullptr) elf_end(exe_elf);
    if (exe_fd >= 0) close(exe_fd);
  }
  std::vector<ModuleRange> modules;
  absl::flat_hash_map<uint64_t, std::shared_ptr<const NativeSymbol>> symbols;
  // Frames of one function share their CodeInfo, so the sampler interns
  // them as one frame (per line).
  absl::flat_hash_map<std::string, std::shared_ptr<const CodeInfo>> codes;

  // The thread being unwound and its registers.
  pid_t tid = 0;
  user_regs_struct regs{};
  std::vector<uint64_t> page_addresses;
  std::vector<std::array<uint8_t, kPage>> pages;
  bool missed_module = false;
  std::chrono::steady_clock::time_point last_report;

  absl::Status Report();
  bool ReadWord(uint64_t address, uint64_t* out);
  std::shared_ptr<const NativeSymbol> Lookup(uint64_t address);
};

namespace {

pid_t NextThread(Dwfl*, void*, void**) { return 0; }

bool GetThread(Dwfl*, pid_t tid, void* dwfl_arg, void** thread_argp) {
  auto* impl = static_cast<NativeUnwinder::Impl*>(dwfl_arg);
  *thread_argp = impl;
  return tid == impl->tid;
}

bool MemoryRead(Dwfl*, Dwarf_Addr address, Dwarf_Word* result, void* dwfl_arg) {
  uint64_t word = 0;
  if (!static_cast<NativeUnwinder::Impl*>(dwfl_arg)->ReadWord(address, &word)) {
    return false;
  }
  *result = word;
  return true;
}

bool SetInitialRegisters(Dwfl_Thread* thread, void* thread_arg) {
  const user_regs_struct& r =
      static_cast<NativeUnwinder::Impl*>(thread_arg)->regs;
  // DWARF register numbers of x86-64 (System V psABI, figure 3.36): rax,
  // rdx, rcx, rbx, rsi, rdi, rbp, rsp, r8-r15, then the return address.
  const Dwarf_Word dwarf_regs[17] = {r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi,
                                     r.rbp, r.rsp, r.r8,  r.r9,  r.r10, r.r11,
                                     r.r12, r.r13, r.r14, r.r15, r.rip};
  if (!dwfl_thread_state_registers(thread, 0, 17, dwarf_regs)) return false;
  dwfl_thread_state_register_pc(thread, r.rip);
  return true;
}

void Detach(Dwfl*, void*) {}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    .next_thread = NextThread,
    .get_thread = GetThread,
    .memory_read = MemoryRead,
    .set_initial_registers = SetInitialRegisters,
    .detach = Detach,
    .thread_detach = nullptr,
};

}  // namespace

absl::Status NativeUnwinder::Impl::Report() {
  ++self->maps_reads_;
  last_report = std::chrono::steady_clock::now();
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<MemoryMapping> maps,
                            proc.ReadMaps(pid));
  // A module spans the consecutive mappings of one file (its r--, r-x,
  // r-- and rw- segments), from the one at the lowest address: libdwfl
  // takes the load bias from where the file's first PT_LOAD lies.
  std::vector<ModuleRange> found;
  std::vector<const MemoryMapping*> first_of;
  bool open = false;  // found.back() may still grow
  bool executable = false;
  auto flush = [&] {
    if (open && !executable) {
      found.pop_back();
      first_of.pop_back();
    }
    open = false;
    executable = false;
  };
  for (const MemoryMapping& m : maps) {
    const bool file =
        !m.path.empty() && (m.path[0] == '/' || m.path == "[vdso]");
    if (open && file && m.path == found.back().path &&
        m.start == found.back().end) {
      found.back().end = m.end;
      executable |= m.executable;
      continue;
    }
    flush();
    if (!file) continue;
    found.push_back({m.start, m.end, m.offset, m.path});
    first_of.push_back(&m);
    open = true;
    executable = m.executable;
  }
  flush();
  if (found == modules && dwfl != nullptr) return absl::OkStatus();

  if (dwfl == nullptr) {
    dwfl.reset(dwfl_begin(&kDwflCallbacks));
    if (dwfl == nullptr) {
      return absl::InternalError(absl::StrCat("dwfl_begin: ", dwfl_errmsg(-1)));
    }
  }
  dwfl_report_begin(dwfl.get());
  for (size_t i = 0; i < found.size(); ++i) {
    const ModuleRange& r = found[i];
    const MemoryMapping& m = *first_of[i];
    const std::string key = absl::StrCat(r.path, "@", r.start);
    std::unique_ptr<ModuleFile>& file = files[key];
    if (file == nullptr) {
      file = std::make_unique<ModuleFile>();
      if (r.path == "[vdso]") {
        file->image.resize(r.end - r.start);
        if (!memory->Read(r.start, file->image.data(), file->image.size())
                 .ok()) {
          file->image.clear();
          continue;
        }
      } else if (m.deleted) {
        file->open_path =
            absl::StrCat(proc.PidPath(pid), "/map_files/", absl::Hex(m.start),
                         "-", absl::Hex(m.end));
      } else {
        // /proc/PID/maps names files relative to the reader's root: a
        // target chrooted below it shows the path as seen from here, one
        // in its own mount namespace the path inside it.
        file->open_path = proc.InTargetRoot(pid, r.path);
        if (access(file->open_path.c_str(), R_OK) != 0 &&
            access(r.path.c_str(), R_OK) == 0) {
          file->open_path = r.path;
        }
      }
    }
    Dwfl_Module* mod =
        dwfl_report_module(dwfl.get(), r.path.c_str(), r.start, r.end);
    if (mod == nullptr) continue;
    void** userdata = nullptr;
    dwfl_module_info(mod, &userdata, nullptr, nullptr, nullptr, nullptr,
                     nullptr, nullptr);
    if (userdata != nullptr) *userdata = file.get();
  }
  if (dwfl_report_end(dwfl.get(), nullptr, nullptr) != 0) {
    return absl::InternalError(
        absl::StrCat("dwfl_report_end: ", dwfl_errmsg(-1)));
  }
  modules = std::move(found);
  // Addresses may name other code now (a library unloaded, another loaded
  // in its place).
  symbols.clear();
  return absl::OkStatus();
}

bool NativeUnwinder::Impl::ReadWord(uint64_t address, uint64_t* out) {
  uint8_t bytes[8];
  for (size_t done = 0; done < sizeof(bytes);) {
    const uint64_t at = address + done;
    const uint64_t page = at & ~(kPage - 1);
    const size_t in_page = static_cast<size_t>(at - page);
    const size_t n = std::min(sizeof(bytes) - done, kPage - in_page);
    size_t index = 0;
    while (index < page_addresses.size() && page_addresses[index] != page) {
      ++index;
    }
    if (index == page_addresses.size()) {
      if (pages.size() < kMaxCachedPages) {
        ++self->memory_reads_;
        pages.emplace_back();
        if (!memory->Read(page, pages.back().data(), kPage).ok()) {
          pages.pop_back();
          return false;
        }
        page_addresses.push_back(page);
      } else {
        ++self->memory_reads_;
        if (!memory->Read(at, bytes + done, n).ok()) return false;
        done += n;
        continue;
      }
    }
    std::memcpy(bytes + done, pages[index].data() + in_page, n);
    done += n;
  }
  std::memcpy(out, bytes, sizeof(bytes));
  return true;
}

std::shared_ptr<const NativeSymbol> NativeUnwinder::Impl::Lookup(
    uint64_t address) {
  ++self->symbol_lookups_;
  auto sym = std::make_shared<NativeSymbol>();
  Dwfl_Module* mod = dwfl_addrmodule(dwfl.get(), address);
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
    missed_module = true;
    sym->module = "[unknown]";
  } else {
    sym->module = module_name != nullptr ? module_name : "[unknown]";
    sym->module_start = start;
    sym->module_end = end;
    for (const ModuleRange& r : modules) {
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
      codes[absl::StrCat(sym->module, "\n", name, "\n", filename)];
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

NativeUnwinder::NativeUnwinder(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {
  impl_->self = this;
}

NativeUnwinder::~NativeUnwinder() = default;

absl::StatusOr<std::unique_ptr<NativeUnwinder>> NativeUnwinder::Create(
    pid_t pid, const std::string& proc_root) {
  auto impl = std::make_unique<Impl>();
  impl->pid = pid;
  impl->proc = ProcFs(proc_root);
  PYSTROBE_ASSIGN_OR_RETURN(impl->memory, OpenRemoteMemory(pid));
  std::unique_ptr<NativeUnwinder> unwinder(new NativeUnwinder(std::move(impl)));
  Impl& i = *unwinder->impl_;
  PYSTROBE_RETURN_IF_ERROR(i.Report());
  const std::string exe = absl::StrCat(i.proc.PidPath(pid), "/exe");
  i.exe_fd = open(exe.c_str(), O_RDONLY | O_CLOEXEC);
  if (i.exe_fd < 0) {
    return StatusFromErrno(errno, absl::StrCat("cannot open ", exe));
  }
  i.exe_elf = elf_begin(i.exe_fd, ELF_C_READ_MMAP, nullptr);
  if (i.exe_elf == nullptr) {
    return absl::InternalError(
        absl::StrCat(exe, " is not an ELF file: ", elf_errmsg(-1)));
  }
  if (!dwfl_attach_state(i.dwfl.get(), i.exe_elf, pid, &kThreadCallbacks, &i)) {
    return absl::InternalError(
        absl::StrCat("dwfl_attach_state: ", dwfl_errmsg(-1)));
  }
  return unwinder;
}

std::shared_ptr<const NativeSymbol> NativeUnwinder::Symbolize(
    uint64_t address) {
  auto it = impl_->symbols.find(address);
  if (it != impl_->symbols.end()) return it->second;
  std::shared_ptr<const NativeSymbol> sym = impl_->Lookup(address);
  // An address outside every module is not kept: the library it is in may
  // be being loaded (the maps are read again, Unwind).
  if (sym->module != "[unknown]") impl_->symbols.emplace(address, sym);
  return sym;
}

namespace {

struct UnwindContext {
  NativeUnwinder* unwinder;
  std::vector<NativeFrame>* frames;
  bool too_deep = false;
};

int OnFrame(Dwfl_Frame* state, void* arg) {
  auto* ctx = static_cast<UnwindContext*>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation)) return DWARF_CB_ABORT;
  // A return address points after its call, possibly into the next
  // function (or line): look up the call instruction instead.
  const uint64_t lookup = activation || pc == 0 ? pc : pc - 1;
  Dwarf_Word sp = 0;
  // DWARF register 7 of x86-64 is rsp.
  if (dwfl_frame_reg(state, 7, &sp) != 0) sp = 0;
  ctx->frames->push_back({pc, sp, ctx->unwinder->Symbolize(lookup)});
  if (ctx->frames->size() >= NativeUnwinder::kMaxDepth) {
    ctx->too_deep = true;
    return DWARF_CB_ABORT;
  }
  return DWARF_CB_OK;
}

}  // namespace

absl::Status NativeUnwinder::Unwind(pid_t tid, std::vector<NativeFrame>* frames,
                                    bool* truncated) {
  Impl& i = *impl_;
  frames->clear();
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &i.regs) != 0) {
    return StatusFromErrno(errno,
                           absl::StrCat("PTRACE_GETREGS of thread ", tid));
  }
  for (int attempt = 0;; ++attempt) {
    i.tid = tid;
    i.page_addresses.clear();
    i.pages.clear();
    i.missed_module = false;
    frames->clear();
    UnwindContext ctx{this, frames};
    const int rc = dwfl_getthread_frames(i.dwfl.get(), tid, OnFrame, &ctx);
    // A frame outside every module: a library loaded since the maps were
    // read. Read them again (once per unwind) and start over.
    // Code outside every module that stays (JIT code, anonymous executable
    // memory) costs a read of the maps at most every 50 ms.
    const auto now = std::chrono::steady_clock::now();
    if (i.missed_module && attempt == 0 &&
        now - i.last_report >= std::chrono::milliseconds(50)) {
      PYSTROBE_RETURN_IF_ERROR(i.Report());
      continue;
    }
    if (truncated != nullptr) *truncated = rc != 0 || ctx.too_deep;
    return absl::OkStatus();
  }
}

}  // namespace pystrobe
