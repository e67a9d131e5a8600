#include "pystrobe/process/cpu_wait.h"

#include <fcntl.h>
#include <unistd.h>

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proc_files.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {

CpuWaitMonitor::CpuWaitMonitor(pid_t pid, std::string proc_root)
    : pid_(pid), proc_root_(std::move(proc_root)) {}

void CpuWaitMonitor::Update() {
  const std::string task_dir = absl::StrCat(proc_root_, "/", pid_, "/task");
  absl::StatusOr<std::vector<pid_t>> tids = ListTaskIds(task_dir, pid_);
  if (!tids.ok()) return;
  for (auto& [tid, last] : threads_) last.seen = false;
  for (pid_t tid : *tids) {
    ScopedFd fd(open(absl::StrCat(task_dir, "/", tid, "/schedstat").c_str(),
                     O_RDONLY | O_CLOEXEC));
    if (!fd) continue;  // exited, or no schedstat in this kernel
    char buf[128];
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n <= 0) continue;
    absl::StatusOr<SchedStat> s =
        ParseSchedstat(std::string_view(buf, static_cast<size_t>(n)));
    if (!s.ok()) continue;
    auto [it, first] = threads_.try_emplace(tid);
    Last& last = it->second;
    // A thread alive at the first look counts from then; one that appeared
    // later (or a TID reused: its counters went back) from its start.
    if (first && !started_) {
      last.cpu_ns = s->cpu_ns;
      last.wait_ns = s->wait_ns;
      last.waits = s->run_count;
    } else if (s->cpu_ns < last.cpu_ns || s->wait_ns < last.wait_ns ||
               s->run_count < last.waits) {
      last = Last{};
    }
    cpu_ns_ += s->cpu_ns - last.cpu_ns;
    wait_ns_ += s->wait_ns - last.wait_ns;
    waits_ += s->run_count - last.waits;
    last.cpu_ns = s->cpu_ns;
    last.wait_ns = s->wait_ns;
    last.waits = s->run_count;
    last.seen = true;
  }
  started_ = true;
  // Forget the threads that exited (their time is already summed).
  absl::erase_if(threads_, [](const auto& t) { return !t.second.seen; });
}

double CpuWaitMonitor::WaitShare() const {
  const uint64_t runnable = cpu_ns_ + wait_ns_;
  return runnable > 0
             ? static_cast<double>(wait_ns_) / static_cast<double>(runnable)
             : 0.0;
}

}  // namespace pystrobe
