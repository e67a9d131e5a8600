#include "pystrobe/native/native_unwinder.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "module_map.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/remote_memory.h"

namespace pystrobe {
namespace {

constexpr uint64_t kPage = 4096;
// Pages of the target read per unwind (the stack and what CFI
// expressions dereference); reads past it go to the target directly.
constexpr size_t kMaxCachedPages = 64;

// DWARF register numbers of x86-64 (System V psABI, figure 3.36): rax,
// rdx, rcx, rbx, rsi, rdi, rbp, rsp, r8-r15, then the return address.
constexpr unsigned kDwarfRsp = 7;
constexpr unsigned kDwarfRegisters = 17;

}  // namespace

struct NativeUnwinder::Impl {
  pid_t pid = 0;
  // Declared before modules, which reads the vDSO through it.
  std::unique_ptr<RemoteMemory> memory;
  std::unique_ptr<ModuleMap> modules;

  // The thread being unwound and its registers: all of them (a stopped
  // thread), or only rsp and rip (a sleeping one).
  pid_t tid = 0;
  user_regs_struct regs{};
  bool only_sp_pc = false;
  std::vector<uint64_t> page_addresses;
  std::vector<std::array<uint8_t, kPage>> pages;
  uint64_t memory_reads = 0;

  bool ReadWord(uint64_t address, uint64_t* out);
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
  const auto* impl = static_cast<const NativeUnwinder::Impl*>(thread_arg);
  const user_regs_struct& r = impl->regs;
  if (impl->only_sp_pc) {
    // The others stay unset: libdwfl fails a frame whose CFI needs one
    // rather than guess it.
    const Dwarf_Word sp = r.rsp;
    if (!dwfl_thread_state_registers(thread, kDwarfRsp, 1, &sp)) return false;
  } else {
    const Dwarf_Word dwarf_regs[kDwarfRegisters] = {
        r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
        r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip};
    if (!dwfl_thread_state_registers(thread, 0, kDwarfRegisters, dwarf_regs)) {
      return false;
    }
  }
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
        ++memory_reads;
        pages.emplace_back();
        if (!memory->Read(page, pages.back().data(), kPage).ok()) {
          pages.pop_back();
          return false;
        }
        page_addresses.push_back(page);
      } else {
        ++memory_reads;
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

NativeUnwinder::NativeUnwinder(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

NativeUnwinder::~NativeUnwinder() = default;

absl::StatusOr<std::unique_ptr<NativeUnwinder>> NativeUnwinder::Create(
    pid_t pid, const std::string& proc_root) {
  auto impl = std::make_unique<Impl>();
  impl->pid = pid;
  PYSTROBE_ASSIGN_OR_RETURN(impl->memory, OpenRemoteMemory(pid));
  PYSTROBE_ASSIGN_OR_RETURN(
      impl->modules, ModuleMap::Create(pid, proc_root, impl->memory.get()));
  PYSTROBE_RETURN_IF_ERROR(
      impl->modules->AttachState(&kThreadCallbacks, impl.get()));
  return std::unique_ptr<NativeUnwinder>(new NativeUnwinder(std::move(impl)));
}

std::shared_ptr<const NativeSymbol> NativeUnwinder::Symbolize(
    uint64_t address) {
  return impl_->modules->Symbolize(address);
}

uint64_t NativeUnwinder::maps_reads() const {
  return impl_->modules->maps_reads();
}
uint64_t NativeUnwinder::symbol_lookups() const {
  return impl_->modules->symbol_lookups();
}
uint64_t NativeUnwinder::memory_reads() const { return impl_->memory_reads; }

namespace {

struct UnwindContext {
  ModuleMap* modules;
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
  if (dwfl_frame_reg(state, kDwarfRsp, &sp) != 0) sp = 0;
  ctx->frames->push_back({pc, sp, ctx->modules->Symbolize(lookup)});
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
  i.tid = tid;
  i.only_sp_pc = false;
  return UnwindFromRegisters(frames, truncated);
}

absl::Status NativeUnwinder::UnwindSleeping(pid_t tid, uint64_t sp, uint64_t pc,
                                            std::vector<NativeFrame>* frames,
                                            bool* truncated) {
  Impl& i = *impl_;
  i.regs = user_regs_struct{};
  i.regs.rsp = sp;
  i.regs.rip = pc;
  i.tid = tid;
  i.only_sp_pc = true;
  return UnwindFromRegisters(frames, truncated);
}

absl::Status NativeUnwinder::UnwindFromRegisters(
    std::vector<NativeFrame>* frames, bool* truncated) {
  Impl& i = *impl_;
  ModuleMap& modules = *i.modules;
  for (int attempt = 0;; ++attempt) {
    i.page_addresses.clear();
    i.pages.clear();
    modules.clear_missed_module();
    frames->clear();
    UnwindContext ctx{&modules, frames};
    const int rc = dwfl_getthread_frames(modules.dwfl(), i.tid, OnFrame, &ctx);
    // A frame outside every module: a library loaded since the maps were
    // read. Read them again (once per unwind) and start over.
    // Code outside every module that stays (JIT code, anonymous executable
    // memory) costs a read of the maps at most every 50 ms.
    const auto now = std::chrono::steady_clock::now();
    if (modules.missed_module() && attempt == 0 &&
        now - modules.last_report() >= std::chrono::milliseconds(50)) {
      PYSTROBE_RETURN_IF_ERROR(modules.Report());
      continue;
    }
    if (truncated != nullptr) *truncated = rc != 0 || ctx.too_deep;
    return absl::OkStatus();
  }
}

}  // namespace pystrobe
