#include "pystrobe/process/capabilities.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "proc_files.h"

namespace pystrobe {
namespace {

// <linux/capability.h>, CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40).
constexpr const char* kNames[] = {"chown",
                                  "dac_override",
                                  "dac_read_search",
                                  "fowner",
                                  "fsetid",
                                  "kill",
                                  "setgid",
                                  "setuid",
                                  "setpcap",
                                  "linux_immutable",
                                  "net_bind_service",
                                  "net_broadcast",
                                  "net_admin",
                                  "net_raw",
                                  "ipc_lock",
                                  "ipc_owner",
                                  "sys_module",
                                  "sys_rawio",
                                  "sys_chroot",
                                  "sys_ptrace",
                                  "sys_pacct",
                                  "sys_admin",
                                  "sys_boot",
                                  "sys_nice",
                                  "sys_resource",
                                  "sys_time",
                                  "sys_tty_config",
                                  "mknod",
                                  "lease",
                                  "audit_write",
                                  "audit_control",
                                  "setfcap",
                                  "mac_override",
                                  "mac_admin",
                                  "syslog",
                                  "wake_alarm",
                                  "block_suspend",
                                  "audit_read",
                                  "perfmon",
                                  "bpf",
                                  "checkpoint_restore"};

// A capability set of a status file ("CapPrm:\t000001ffffffffff").
std::optional<uint64_t> CapabilitySet(const std::string& status,
                                      const std::string& key) {
  const size_t at = status.find("\n" + key + ":");
  if (at == std::string::npos) return std::nullopt;
  const size_t from = at + key.size() + 2;
  const size_t end = status.find('\n', from);
  uint64_t caps = 0;
  if (!absl::SimpleHexAtoi(
          absl::StripAsciiWhitespace(status.substr(
              from, end == std::string::npos ? std::string::npos : end - from)),
          &caps)) {
    return std::nullopt;
  }
  return caps;
}

bool Has(const std::optional<uint64_t>& set, int bit) {
  return set && (*set >> bit & 1) != 0;
}

}  // namespace

std::string CapabilityName(int bit) {
  if (bit >= 0 && bit < static_cast<int>(std::size(kNames))) {
    return absl::StrCat("cap_", kNames[bit]);
  }
  return absl::StrCat("cap_", bit);
}

std::string CapabilityNames(uint64_t mask) {
  std::vector<std::string> names;
  for (int bit = 0; bit < 64; ++bit) {
    if ((mask >> bit & 1) != 0) names.push_back(CapabilityName(bit));
  }
  return absl::StrJoin(names, ", ");
}

RootRefusal ReadRootRefusal(pid_t pid) {
  RootRefusal r;
  if (absl::StatusOr<std::string> s = ReadProcFile("/proc/self/status", 0);
      s.ok()) {
    r.our_permitted = CapabilitySet(*s, "CapPrm");
    r.our_effective = CapabilitySet(*s, "CapEff");
    r.our_bounding = CapabilitySet(*s, "CapBnd");
  }
  if (absl::StatusOr<std::string> s =
          ReadProcFile(absl::StrCat("/proc/", pid, "/status"), pid);
      s.ok()) {
    r.their_permitted = CapabilitySet(*s, "CapPrm");
  }
  char ours[64] = {0}, theirs[64] = {0};
  const ssize_t a = readlink("/proc/self/ns/user", ours, sizeof(ours) - 1);
  const ssize_t b = readlink(absl::StrCat("/proc/", pid, "/ns/user").c_str(),
                             theirs, sizeof(theirs) - 1);
  r.other_user_namespace =
      a > 0 && b > 0 && std::string(ours) != std::string(theirs);
  if (absl::StatusOr<std::string> s =
          ReadProcFile("/proc/sys/kernel/yama/ptrace_scope", 0);
      s.ok()) {
    // A value that is not a number keeps the default (no Yama).
    int scope = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &scope)) {
      r.yama_scope = scope;
    }
  }
  return r;
}

std::string ExplainRootRefusal(const RootRefusal& r) {
  constexpr char kModule[] =
      "a security module (Yama, AppArmor, SELinux, Landlock) or a seccomp "
      "policy forbids it: see dmesg or the audit log";
  if (r.yama_scope >= 3) {
    return absl::StrCat("kernel.yama.ptrace_scope is ", r.yama_scope,
                        ", which forbids all tracing until the next reboot");
  }
  if (r.other_user_namespace) {
    return "it runs in another user namespace, where pystrobe's root is not "
           "root: run pystrobe inside that namespace (its container)";
  }
  const uint64_t extra = r.their_permitted && r.our_permitted
                             ? *r.their_permitted & ~*r.our_permitted
                             : 0;
  if (extra == 0) return kModule;
  const std::string names = CapabilityNames(extra);
  if (Has(r.our_effective, kCapSysPtrace)) {
    // The kernel would let cap_sys_ptrace in despite the difference.
    return absl::StrCat("not for its capabilities (", names,
                        ", which pystrobe lacks, but its cap_sys_ptrace "
                        "overrides that): ",
                        kModule);
  }
  std::string out = absl::StrCat(
      "it holds ", names,
      ", which pystrobe lacks, and tracing needs all of the target's "
      "capabilities or cap_sys_ptrace");
  if (Has(r.our_bounding, kCapSysPtrace)) {
    absl::StrAppend(&out,
                    ": run pystrobe with cap_sys_ptrace (e.g. sudo setcap "
                    "cap_sys_ptrace+ep $(which pystrobe))");
  } else {
    absl::StrAppend(&out,
                    " (dropped from this session's bounding set: only a "
                    "pystrobe started outside it can)");
  }
  return out;
}

}  // namespace pystrobe
