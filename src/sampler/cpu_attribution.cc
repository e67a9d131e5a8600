#include "pystrobe/sampler/cpu_attribution.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

namespace pystrobe {

bool CpuAttribution::Observe(pid_t tid, const ThreadClock& clock,
                             const StackKey* key) {
  auto [it, first] = threads_.try_emplace(tid);
  Thread& t = it->second;
  if (first) {
    // CPU used before the first look is not the recording's.
    t.window_start_cpu = clock.cpu_ns;
    t.last_cpu = clock.cpu_ns;
  }
  // A thread's CPU clock never goes back; a smaller value is a new thread
  // that reused the TID: start its accounting afresh.
  if (clock.cpu_ns < t.last_cpu) {
    t = Thread{};
    t.window_start_cpu = clock.cpu_ns;
  }
  t.last_cpu = clock.cpu_ns;
  t.observed = true;
  if (key == nullptr) return false;
  t.last_key = *key;
  const bool ran_just_before = t.ran_at_last_look &&
                               clock.at_ns >= t.last_look_ns &&
                               clock.at_ns - t.last_look_ns <= kJustAfterNs;
  t.ran_at_last_look = false;
  t.last_look_ns = clock.at_ns;
  if (clock.state != 'R') {
    t.asleep_at.insert(key->stack);
    return false;
  }
  if (clock.waiting_for_cpu) {
    // Runnable, but in a run queue (the kernel said so afterwards): the
    // thread used no CPU there.
    return false;
  }
  if (!clock.holds_gil && !ran_just_before &&
      (t.asleep_at.contains(key->stack) ||
       t.asleep_before.contains(key->stack))) {
    // Woken where it slept, not yet back to Python code: it waits for a
    // CPU or the GIL. (Running a moment ago, it would be on its way into
    // the sleep: counted.)
    return false;
  }
  t.ran_at_last_look = true;
  ++t.running[*key];
  ++t.running_samples;
  t.last_running = *key;
  return true;
}

bool CpuAttribution::Distribute(Thread& t, uint64_t cpu, Sink add) {
  if (t.running_samples == 0) return false;
  // Cumulative rounding: every key gets its share to the nanosecond and the
  // shares add up to `cpu` exactly. Keys in a fixed order, so that the same
  // observations always give the same profile.
  std::vector<std::pair<StackKey, int64_t>> keys(t.running.begin(),
                                                 t.running.end());
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    const StackKey& x = a.first;
    const StackKey& y = b.first;
    return std::tie(x.stack, x.thread, x.batch, x.flags) <
           std::tie(y.stack, y.thread, y.batch, y.flags);
  });
  const long double per_sample = static_cast<long double>(cpu) /
                                 static_cast<long double>(t.running_samples);
  int64_t seen = 0;
  int64_t given = 0;
  for (const auto& [key, count] : keys) {
    seen += count;
    const int64_t upto =
        seen == t.running_samples
            ? static_cast<int64_t>(cpu)
            : static_cast<int64_t>(std::llround(per_sample * seen));
    add(key, count, upto - given);
    given = upto;
  }
  t.running.clear();
  t.running_samples = 0;
  return true;
}

void CpuAttribution::Settle(Thread& t, Sink add) {
  const uint64_t cpu = t.last_cpu - t.window_start_cpu;
  if (Distribute(t, cpu, add)) {
    t.window_start_cpu = t.last_cpu;
    return;
  }
  if (cpu == 0) return;
  // Never seen running in the last window(s): its CPU goes where it last
  // ran, or at least where it last was.
  std::optional<StackKey> where = t.last_running ? t.last_running : t.last_key;
  if (where) {
    // In the time batch of the latest look at it, not of a batch that a
    // merge may have renumbered since.
    if (t.last_key) where->batch = t.last_key->batch;
    add(*where, 0, static_cast<int64_t>(cpu));
  }
  t.window_start_cpu = t.last_cpu;
}

void CpuAttribution::CloseWindow(Sink add) {
  for (auto it = threads_.begin(); it != threads_.end();) {
    Thread& t = it->second;
    if (!t.observed) {
      // Not seen in a whole window: it exited (or is no longer sampled).
      Settle(t, add);
      threads_.erase(it++);
      continue;
    }
    t.observed = false;
    t.asleep_before.swap(t.asleep_at);
    t.asleep_at.clear();
    if (Distribute(t, t.last_cpu - t.window_start_cpu, add)) {
      t.window_start_cpu = t.last_cpu;
    }
    ++it;
  }
}

void CpuAttribution::Finish(Sink add) {
  for (auto& [tid, t] : threads_) Settle(t, add);
  threads_.clear();
}

uint64_t CpuAttribution::pending_ns() const {
  uint64_t sum = 0;
  for (const auto& [tid, t] : threads_) sum += t.last_cpu - t.window_start_cpu;
  return sum;
}

}  // namespace pystrobe
