#include "pystrobe/sampler/cpu_wait_filter.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace pystrobe {

CpuWaitFilter::CpuWaitFilter(CpuWaitFilterOptions options)
    : options_(options) {
  options_.max_held = std::max<size_t>(options_.max_held, 1);
}

CpuWaitFilter::Line* CpuWaitFilter::Find(pid_t tid) {
  auto it = lines_.find(tid);
  return it == lines_.end() ? nullptr : &it->second;
}

CpuWaitFilter::Line& CpuWaitFilter::Touch(pid_t tid) {
  Line& line = lines_[tid];
  line.seen_tick = tick_;
  return line;
}

bool CpuWaitFilter::WantsReading(pid_t tid, char state) const {
  if (state == 'R') return true;
  if (state != '?') return false;
  auto it = lines_.find(tid);
  return it != lines_.end() && it->second.held > 0;
}

void CpuWaitFilter::Settle(Line& line, char state, int64_t now_ns,
                           const SchedReading* reading) {
  const bool runnable = state == 'R' || state == '?';
  if (!runnable) {
    // Asleep or stopped now: a wait that ends later starts later.
    line.ran_after_ns = now_ns;
    line.has_ran_after = true;
  }
  if (reading == nullptr) {
    // Seen not runnable: only a thread on a CPU falls asleep or stops, and
    // a held sample's thread was not scheduled in since (the reading after
    // it said so, or there was none), so it was on a CPU then.
    if (!runnable && line.held > 0) SettleAll(line, Fate::kRunning);
    return;
  }
  const SchedReading& last = line.last;
  const bool went_back = line.has_last && (reading->run_count < last.run_count ||
                                           reading->wait_ns < last.wait_ns ||
                                           reading->cpu_ns < last.cpu_ns);
  if (!line.has_last || went_back) {
    // No interval to read (a TID reused: the counters went back).
    SettleAll(line, Fate::kRunning);
    line.has_ran_after = false;
  } else {
    const bool scheduled_in = reading->run_count > last.run_count;
    const bool ran = reading->cpu_ns > last.cpu_ns;
    if (scheduled_in) {
      waits_ += reading->run_count - last.run_count;
      if (line.held > 0) SettleWait(line, now_ns, *reading);
    } else if ((ran || !runnable) && line.held > 0) {
      // It ran in (last_ns, now_ns] without being scheduled in: it was on
      // a CPU at last_ns, and so at every held sample (nothing scheduled
      // it in between them either).
      SettleAll(line, Fate::kRunning);
    }
    if ((scheduled_in || ran) &&
        (!line.has_ran_after || line.ran_after_ns < line.last_ns)) {
      // On a CPU at some point after last_ns: a wait that ends later
      // starts after last_ns.
      line.ran_after_ns = line.last_ns;
      line.has_ran_after = true;
    }
  }
  line.last = *reading;
  line.last_ns = now_ns;
  line.has_last = true;
}

void CpuWaitFilter::SettleAll(Line& line, Fate fate) {
  for (size_t i = 0; i < line.size; ++i) {
    if (line.at(i).fate == Fate::kHeld) line.at(i).fate = fate;
  }
  line.held = 0;
}

void CpuWaitFilter::SettleWait(Line& line, int64_t now_ns,
                               const SchedReading& reading) {
  // Waits of D ns in all ended in (last_ns, now_ns], of length L; only the
  // first can have begun before last_ns. How much of it did (`before`)?
  // Everything in the interval is time on a CPU (E), waits that ended in
  // it, sleep, or a wait still going on at now_ns, so
  //   before = D + E - L + sleep + wait going on  >=  D + E - L,
  // with E exact. The kernel's E lags for a thread on a CPU by the time
  // since its last scheduler tick, switch or clock read: at now_ns that
  // only lowers this bound; at last_ns only if the thread was on a CPU
  // then, when there was no wait before last_ns at all (the upper bounds
  // below cap that case). Also before >= D - L (the waits do not fit in
  // the interval), before < D (the first wait ended after last_ns), and
  // the wait began after the thread was last known on a CPU or asleep.
  // Of what lies between the bounds nothing is known: it is not flagged
  // (the lower bound is taken), so that no running sample is flagged for
  // it. A thread that reads its own clock often (a fresh E) has the bound
  // within microseconds of the truth; one that computes without a system
  // call leaves up to one interval between samples unflagged per wait.
  // And a lower bound under `margin_ns` is taken as none: at last_ns the
  // lag of E can make a thread on a CPU look like it waited a little.
  const double span = static_cast<double>(now_ns - line.last_ns);
  const double wait = static_cast<double>(reading.wait_ns - line.last.wait_ns);
  const double ran = static_cast<double>(reading.cpu_ns - line.last.cpu_ns);
  double before = std::max({wait + ran - span, wait - span, 0.0});
  double most = wait;
  if (line.has_ran_after) {
    most = std::min(
        most, static_cast<double>(line.last_ns - line.ran_after_ns));
  }
  before = std::min(before, most);
  if (before < static_cast<double>(options_.margin_ns)) before = 0;
  for (size_t i = 0; i < line.size; ++i) {
    Entry& e = line.at(i);
    if (e.fate != Fate::kHeld) continue;
    e.fate = before > 0 && static_cast<double>(e.sample.elapsed_ns) >=
                               static_cast<double>(line.last_ns) - before
                 ? Fate::kWaiting
                 : Fate::kRunning;
  }
  line.held = 0;
}

void CpuWaitFilter::ReleaseSettled(pid_t tid, Line& line, Release release) {
  while (line.size > 0 && line.at(0).fate != Fate::kHeld) {
    Entry& e = line.at(0);
    const bool waiting = e.fate == Fate::kWaiting;
    if (waiting) ++flagged_;
    release(tid, e.sample, waiting);
    line.head = (line.head + 1) % line.entries.size();
    --line.size;
  }
  if (line.size == 0) line.head = 0;
}

void CpuWaitFilter::ReleaseAll(pid_t tid, Line& line, Release release) {
  SettleAll(line, Fate::kRunning);
  ReleaseSettled(tid, line, release);
}

void CpuWaitFilter::Push(pid_t tid, Line& line, Entry entry, Release release) {
  if (line.size == line.entries.size()) {
    if (line.entries.size() >= options_.max_held) {
      // Full: the oldest goes as it is.
      Entry& oldest = line.at(0);
      if (oldest.fate == Fate::kHeld) {
        oldest.fate = Fate::kRunning;
        --line.held;
        ++expired_;
      }
      ReleaseSettled(tid, line, release);
    }
    if (line.size == line.entries.size()) {
      // Grow (doubling, up to max_held), unrolling the ring: this happens
      // only while a thread's line reaches its longest.
      const size_t capacity = std::min(
          options_.max_held, std::max<size_t>(8, 2 * line.entries.size()));
      std::vector<Entry> grown;
      grown.reserve(capacity);
      for (size_t i = 0; i < line.size; ++i) grown.push_back(line.at(i));
      grown.resize(capacity);
      line.entries = std::move(grown);
      line.head = 0;
    }
  }
  if (entry.fate == Fate::kHeld) ++line.held;
  line.entries[(line.head + line.size) % line.entries.size()] =
      std::move(entry);
  ++line.size;
  ReleaseSettled(tid, line, release);
}

void CpuWaitFilter::Add(pid_t tid, char state, const SchedReading* reading,
                        const HeldSample& sample, Release release) {
  Line& line = Touch(tid);
  Settle(line, state, sample.elapsed_ns, reading);
  // Held only when a later reading can settle it: runnable now, with a
  // reading now to measure from.
  const bool hold = state == 'R' && reading != nullptr;
  if (!hold && line.size == 0) {
    release(tid, sample, false);
    return;
  }
  Push(tid, line, Entry{sample, hold ? Fate::kHeld : Fate::kRunning}, release);
}

void CpuWaitFilter::Observe(pid_t tid, char state, int64_t elapsed_ns,
                            const SchedReading* reading, Release release) {
  Line* line = Find(tid);
  if (line == nullptr) {
    // Nothing held: only a runnable thread's reading is worth keeping.
    if (state != 'R' || reading == nullptr) return;
    line = &Touch(tid);
  }
  line->seen_tick = tick_;
  Settle(*line, state, elapsed_ns, reading);
  ReleaseSettled(tid, *line, release);
}

void CpuWaitFilter::EndTick(int64_t elapsed_ns, Release release) {
  for (auto it = lines_.begin(); it != lines_.end();) {
    Line& line = it->second;
    if (line.seen_tick != tick_) {
      ReleaseAll(it->first, line, release);
      lines_.erase(it++);
      continue;
    }
    while (line.size > 0 && line.at(0).fate == Fate::kHeld &&
           line.at(0).sample.elapsed_ns < elapsed_ns - options_.horizon_ns) {
      line.at(0).fate = Fate::kRunning;
      --line.held;
      ++expired_;
      ReleaseSettled(it->first, line, release);
    }
    ++it;
  }
  ++tick_;
}

void CpuWaitFilter::Flush(Release release) {
  for (auto& [tid, line] : lines_) ReleaseAll(tid, line, release);
  lines_.clear();
}

std::vector<pid_t> CpuWaitFilter::ThreadsHolding() const {
  std::vector<pid_t> tids;
  for (const auto& [tid, line] : lines_) {
    if (line.held > 0) tids.push_back(tid);
  }
  std::sort(tids.begin(), tids.end());
  return tids;
}

size_t CpuWaitFilter::held() const {
  size_t n = 0;
  for (const auto& [tid, line] : lines_) n += line.size;
  return n;
}

}  // namespace pystrobe
