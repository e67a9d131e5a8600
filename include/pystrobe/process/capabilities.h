// Why the kernel refuses root the right to trace a process, in words: the
// capabilities the target holds that the tracer lacks, named
// ("cap_sys_resource"), the rule that makes them matter, and a remedy only
// where one exists.
//
//   RootRefusal facts = ReadRootRefusal(pid);
//   std::string why = ExplainRootRefusal(facts);
#ifndef PYSTROBE_PROCESS_CAPABILITIES_H_
#define PYSTROBE_PROCESS_CAPABILITIES_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace pystrobe {

// Bit numbers of <linux/capability.h> used here.
inline constexpr int kCapSysPtrace = 19;

// "cap_sys_resource" for 24; "cap_41" for a bit the table does not know.
std::string CapabilityName(int bit);
// The names of the bits set in `mask`, lowest first, ", "-separated.
std::string CapabilityNames(uint64_t mask);

// What /proc tells about a refusal (nullopt: could not be read).
struct RootRefusal {
  std::optional<uint64_t> our_permitted, our_effective, our_bounding;
  std::optional<uint64_t> their_permitted;
  bool other_user_namespace = false;
  int yama_scope = 0;
};
RootRefusal ReadRootRefusal(pid_t pid);

// One clause: why a tracer running as root was refused. The kernel lets a
// tracer in when the target's permitted capabilities are a subset of its
// own, in the same user namespace, or when it holds CAP_SYS_PTRACE there
// (security/commoncap.c, cap_ptrace_access_check); Yama's scope 3 forbids
// everything; any other refusal is a security module's or seccomp's.
std::string ExplainRootRefusal(const RootRefusal& r);

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_CAPABILITIES_H_
